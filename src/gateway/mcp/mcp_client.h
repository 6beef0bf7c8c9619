#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "base/result.h"
#include "gateway/cancel.h"
#include "gateway/config.h"

namespace keel::gateway {

struct McpTool {
  std::string name;
  std::string description;
  boost::json::value input_schema;  // the tool's inputSchema
};

struct McpCallResult {
  bool is_error = false;  // the tool reported an error (isError: true)
  // The result for the model: the text of "text" content items joined with "\n"; when the
  // result holds structuredContent, that value instead.
  boost::json::value value;
};

// A Model Context Protocol client (protocol 2025-03-26 and later) to one server, over stdio
// (a child process speaking newline-delimited JSON-RPC) or streamable HTTP (POST JSON-RPC,
// answered with JSON or an SSE stream; Mcp-Session-Id kept). Calls are blocking and
// serialised per client only where the transport requires it; Call is thread-safe.
// A stdio server that exits is restarted on the next call.
class McpClient {
 public:
  explicit McpClient(McpServerConfig config);
  ~McpClient();  // terminates a stdio child (SIGTERM, then SIGKILL after 2 s)

  // initialize + notifications/initialized. Errors name the server and what failed.
  Status Connect();
  Result<std::vector<McpTool>> ListTools();
  // tools/call. kTimeout after config.timeout_ms; kUnavailable when the transport failed
  // (the caller may retry); kInvalidArgument for a JSON-RPC error answer.
  Result<McpCallResult> CallTool(const std::string& name, const boost::json::value& arguments,
                                 std::shared_ptr<CancelToken> cancel);
  const McpServerConfig& config() const { return config_; }

 private:
  struct Impl;
  McpServerConfig config_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel::gateway
