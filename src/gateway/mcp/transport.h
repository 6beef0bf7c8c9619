#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "base/result.h"
#include "gateway/cancel.h"

namespace keel::gateway::mcp {

// One connection to an MCP server, carrying JSON-RPC: a stdio child process or a streamable
// HTTP session. Errors are short ("timed out after 500 ms"); McpClient adds the server's name
// and the method. Thread-safe: several requests may be in flight at once.
class Transport {
 public:
  virtual ~Transport() = default;

  // Sends a request and waits for its response message (the object with "result" or
  // "error"). kTimeout when `timeout_ms` (> 0) passes, kUnavailable when the connection failed
  // or `cancel` fired (message "cancelled").
  virtual Result<boost::json::object> Request(std::string_view method,
                                              const boost::json::value& params, int64_t timeout_ms,
                                              const std::shared_ptr<CancelToken>& cancel) = 0;
  virtual Status Notify(std::string_view method, const boost::json::value& params,
                        int64_t timeout_ms) = 0;
  // initialize succeeded with this protocol version.
  virtual void Initialized(const std::string& protocol_version) { (void)protocol_version; }
  // False once the connection is gone for good (the child exited, the session expired): the
  // client then connects anew.
  virtual bool alive() const = 0;
};

}  // namespace keel::gateway::mcp
