#include "gateway/tools/mcp_tool.h"

#include <string>

namespace keel::gateway {

namespace json = boost::json;

AttemptOutcome ClassifyMcpResult(const Result<McpCallResult>& r, StopReason stopped,
                                 int64_t timeout_ms) {
  if (auto stop =
          StoppedOutcome(stopped, r.ok(),
                         {.kind = AttemptOutcome::Kind::kRetryable,
                          .error = "timed out after " + std::to_string(timeout_ms) + " ms"})) {
    return *stop;
  }
  AttemptOutcome o;
  if (!r.ok()) {
    o.kind = r.error().code == Errc::kInvalidArgument ? AttemptOutcome::Kind::kToolError
                                                      : AttemptOutcome::Kind::kRetryable;
    o.error = r.error().message;
    return o;
  }
  if (r->is_error) {
    o.kind = AttemptOutcome::Kind::kToolError;
    o.error = r->value.is_string() ? std::string(r->value.get_string()) : json::serialize(r->value);
    if (o.error.empty()) o.error = "the tool reported an error without text";
    return o;
  }
  o.kind = AttemptOutcome::Kind::kOk;
  o.result_json = json::serialize(r->value);
  return o;
}

}  // namespace keel::gateway
