#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "sim/conn.h"
#include "sim/simulator.h"

namespace keel::sim {

// Routes one request to its endpoint and carries out the simulator's plan for it, faults
// included (docs/llm_simulator.md lists the endpoints).
class Router {
 public:
  // `sleep(ms)` waits unless the server stops (then returns false).
  Router(Simulator& sim, std::function<bool(int64_t)> sleep);

  enum class Next { kKeepAlive, kClose, kReset };
  Next Handle(Conn& conn, const Request& req);
  // Answers a request that could not be read (413 too large, 400 not HTTP); the connection
  // closes afterwards.
  void RespondUnreadable(Conn& conn, Conn::ReadResult why);

 private:
  Next Chat(Conn& conn, const Request& req, Api api);
  Next Models(Conn& conn, const Request& req);
  Next Tool(Conn& conn, const Request& req, const std::string& name);
  // POST /effects/{mode}/{name}; `rest` is what follows "/effects/".
  Next Effect(Conn& conn, const Request& req, const std::string& rest);
  Next Admin(Conn& conn, const Request& req, const std::string& path);
  Next Stream(Conn& conn, const Request& req, const ChatPlan& plan, Api api, bool include_usage);
  // A whole (not streamed) `body` as the fault of `fault` delivers it: not at all (reset,
  // blackhole, stall), cut short, malformed, or as it is.
  Next Deliver(Conn& conn, const Request& req, const FaultDecision& fault, int status,
               std::string body, const Headers& headers = {});
  // Error kinds of faults (and scenario errors) in the shape of `api`.
  Next Fail(Conn& conn, const Request& req, Api api, const FaultDecision& fault, int status,
            const std::string& message);
  bool Authorized(const Request& req, Api api) const;

  Simulator& sim_;
  std::function<bool(int64_t)> sleep_;
};

}  // namespace keel::sim
