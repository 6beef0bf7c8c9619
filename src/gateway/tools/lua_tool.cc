#include "gateway/tools/lua_tool.h"

#include <string>

namespace keel::gateway {

AttemptOutcome ClassifyLuaResult(const Result<std::string>& r, StopReason stopped,
                                 int64_t timeout_ms) {
  if (auto stop = StoppedOutcome(stopped, r.ok(),
                                 {.kind = AttemptOutcome::Kind::kToolError,
                                  .error = "the Lua tool ran longer than its timeout of " +
                                           std::to_string(timeout_ms) + " ms"})) {
    return *stop;
  }
  AttemptOutcome o;
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
