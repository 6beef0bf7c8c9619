#pragma once

#include <cstdint>

#include "base/result.h"
#include "gateway/mcp/mcp_client.h"
#include "gateway/tools/tool_attempt.h"

namespace keel::gateway {

// A tools/call answer as an attempt outcome: isError → kToolError with the tool's text; a
// JSON-RPC error (kInvalidArgument: unknown tool, bad params) → kToolError; a transport
// failure or the client's own timeout → kRetryable. `stopped` says whether the runner
// cancelled the call itself (the caller, the tool's timeout of `timeout_ms`, the deadline),
// which decides over whatever error that produced.
AttemptOutcome ClassifyMcpResult(const Result<McpCallResult>& r, StopReason stopped,
                                 int64_t timeout_ms);

}  // namespace keel::gateway
