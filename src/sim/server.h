#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "base/result.h"
#include "sim/conn.h"
#include "sim/simulator.h"

namespace keel::sim {

class Router;

// The simulator's HTTP/1.1 server: a blocking accept loop and one thread per connection
// (keep-alive; requests on a connection are served in order). Threads are cheap at the
// concurrency tests and benchmarks use, and blocking I/O keeps per-request overhead low and
// makes the stall and blackhole faults simple: the thread just waits.
class Server {
 public:
  explicit Server(Simulator& sim);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens on "host:port" (port 0: any free port); returns the bound port.
  // kInvalidArgument for a malformed address, kUnavailable when it cannot be bound.
  Result<int> Listen(const std::string& listen);
  // Accepts connections until Stop(). Call once, after Listen.
  void Run();
  // Stops accepting, wakes every waiting handler (latency, stall, blackhole, sleep) and shuts
  // every connection down, then waits (up to 5 s) for their threads. Thread-safe, idempotent;
  // not from a handler. False when some connection thread did not finish in time (the caller
  // must then end the process without destroying the server).
  bool Stop();

  // Waits `ms` unless the server stops first; false when it stopped.
  bool Sleep(int64_t ms);
  bool stopping() const { return stopping_; }

 private:
  struct Impl;
  void Serve(boost::asio::ip::tcp::socket socket);

  Simulator& sim_;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<Router> router_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<int> open_fds_;
  int active_ = 0;
};

}  // namespace keel::sim
