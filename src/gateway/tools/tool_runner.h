#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include <boost/json.hpp>

#include "base/clock.h"
#include "base/random.h"
#include "base/result.h"
#include "base/timer_queue.h"
#include "gateway/config.h"
#include "gateway/gateway.h"
#include "gateway/http/async_http.h"
#include "gateway/policy/breaker.h"
#include "observability/metrics.h"

namespace keel::gateway {

class McpClient;

// The tool half of the gateway. Arguments are parsed and validated against the tool's JSON
// Schema before anything is sent (a failure is invalid_arguments, naming the field); then
// the call goes out by kind:
//   http: POST (or `method`) the arguments as JSON to `url` with Idempotency-Key
//         "<run_id>:<seq>" (or the request's idempotency_key) and traceparent headers;
//         2xx body (JSON, or text as a string) is the result; 4xx → tool_error; 5xx, 429,
//         timeouts, resets → retried, breaker;
//   mcp:  tools/call on the configured server (stdio or streamable HTTP);
//   lua:  the function from `lua_file`, in a fresh sandbox with memory/instruction limits.
// Retries and the breaker ("tool:<name>") follow the tool's policies, as for models.
//
// Metrics: keel_gateway_tool_calls_total{tool,outcome}, keel_gateway_tool_seconds{tool}.
class ToolRunner {
 public:
  ToolRunner(const GatewayConfig& config, AsyncHttpClient& http, BreakerSet& breakers,
             TimerQueue& timers, const Clock& clock, Random& random, obs::Registry& metrics);
  ~ToolRunner();

  // Loads Lua tool files and connects to MCP servers, listing their tools (an MCP tool's
  // description and schema come from its server unless the config gives them). Errors name
  // the tool or server.
  Status Start();
  void Stop();

  void Call(ToolCallRequest req, std::function<void(ToolCallResult)> done);
  Result<boost::json::object> Describe(const std::string& name) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel::gateway
