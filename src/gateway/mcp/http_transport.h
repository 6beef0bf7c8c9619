#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gateway/mcp/jsonrpc.h"
#include "gateway/mcp/transport.h"

namespace keel::gateway::mcp {

// MCP's streamable HTTP transport: each message is a POST to the endpoint, answered with JSON
// or with an SSE stream that carries the response (perhaps after requests of the server's,
// which are answered with POSTs of their own). The Mcp-Session-Id the server assigns at
// initialize goes on every later request, with MCP-Protocol-Version. Each call runs its own
// libcurl transfer, so calls from several threads proceed in parallel; a cancel wakes the
// transfer at once. A 404 on a session ends it (alive() turns false).
class HttpTransport final : public Transport {
 public:
  HttpTransport(std::string server, std::string url);
  ~HttpTransport() override;  // ends the session with DELETE (best effort, 1 s)

  Result<boost::json::object> Request(std::string_view method, const boost::json::value& params,
                                      int64_t timeout_ms,
                                      const std::shared_ptr<CancelToken>& cancel) override;
  Status Notify(std::string_view method, const boost::json::value& params,
                int64_t timeout_ms) override;
  void Initialized(const std::string& protocol_version) override;
  bool alive() const override;

 private:
  struct Exchange;
  // One POST of `body`. With `want_id`, an SSE answer is read until the response with that
  // id arrives.
  Result<Exchange> Post(const std::string& body, std::optional<int64_t> want_id, int64_t timeout_ms,
                        const std::shared_ptr<CancelToken>& cancel);
  // A short blocking exchange whose answer does not matter beyond its status.
  long Simple(const char* verb, const std::string& body, int64_t timeout_ms);
  void Answer(const Message& server_request);
  std::vector<std::string> Headers() const;

  const std::string server_;
  const std::string url_;
  std::atomic<int64_t> next_id_{1};
  mutable std::mutex mu_;  // guards what follows
  std::string session_id_;
  std::string protocol_version_;
  bool expired_ = false;
};

}  // namespace keel::gateway::mcp
