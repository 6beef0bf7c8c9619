#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace keel::gateway {

// What one attempt of a tool call came to, whatever the kind of tool; the runner's retry and
// breaker logic acts on this alone.
struct AttemptOutcome {
  enum class Kind {
    kOk,         // result_json holds the result
    kToolError,  // the tool answered with an error; retrying would repeat it
    kRetryable,  // 5xx, 429, 408, timeouts, resets, refused connections, MCP transport failures
    kCancelled,  // the call's CancelToken fired (or the runner is stopping)
    kDeadline,   // the attempt ran out of the caller's deadline, not of the tool's timeout
  };
  Kind kind = Kind::kRetryable;
  std::string result_json;
  std::string error;  // for the Attempt and the message: "HTTP 503: overloaded"
  int http_status = 0;
  int64_t retry_after_ms = 0;  // from a Retry-After header
};

// Why an attempt running on a worker (MCP, Lua) was stopped from outside, if it was.
enum class StopReason { kNone, kCancelled, kTimeout, kDeadline };

// The outcome of a worker's attempt that was stopped from outside, or nullopt when it was not
// stopped or its answer (`answered`) made it in before the stop: the answer stands.
// `on_timeout` is what running past the tool's own timeout means for its kind of tool.
std::optional<AttemptOutcome> StoppedOutcome(StopReason stopped, bool answered,
                                             AttemptOutcome on_timeout);

}  // namespace keel::gateway
