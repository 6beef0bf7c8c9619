#include "gateway/tools/lua_tool.h"

namespace keel::gateway {

AttemptOutcome ClassifyLuaResult(const Result<std::string>& r, StopReason stopped,
                                 int64_t timeout_ms) {
  AttemptOutcome o;
  // An answer that made it in before the stop is still the answer.
  if (r.ok()) stopped = StopReason::kNone;
  switch (stopped) {
    case StopReason::kNone:
      break;
    case StopReason::kCancelled:
      o.kind = AttemptOutcome::Kind::kCancelled;
      o.error = "cancelled";
      return o;
    case StopReason::kDeadline:
      o.kind = AttemptOutcome::Kind::kDeadline;
      o.error = "the caller's deadline passed";
      return o;
    case StopReason::kTimeout:
      o.kind = AttemptOutcome::Kind::kToolError;
      o.error = "the Lua tool ran longer than its timeout of " + std::to_string(timeout_ms) + " ms";
      return o;
  }
  if (!r.ok()) {
    o.kind = AttemptOutcome::Kind::kToolError;
    o.error = r.error().message;
    return o;
  }
  o.kind = AttemptOutcome::Kind::kOk;
  o.result_json = *r;
  return o;
}

}  // namespace keel::gateway
