#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "gateway/tools/tool_attempt.h"

namespace keel::gateway {

// A Lua tool's run as an attempt outcome. A Lua error or limit is kToolError with its
// "file:line: message"; running past the tool's timeout (`timeout_ms`) is kToolError too,
// since the same arguments would run as long again. Nothing is retryable.
AttemptOutcome ClassifyLuaResult(const Result<std::string>& r, StopReason stopped,
                                 int64_t timeout_ms);

}  // namespace keel::gateway
