#include "gateway/tools/tool_attempt.h"

namespace keel::gateway {

std::optional<AttemptOutcome> StoppedOutcome(StopReason stopped, bool answered,
                                             AttemptOutcome on_timeout) {
  if (answered) return std::nullopt;
  AttemptOutcome o;
  switch (stopped) {
    case StopReason::kNone:
      return std::nullopt;
    case StopReason::kCancelled:
      o.kind = AttemptOutcome::Kind::kCancelled;
      o.error = "cancelled";
      return o;
    case StopReason::kDeadline:
      o.kind = AttemptOutcome::Kind::kDeadline;
      o.error = "the caller's deadline passed";
      return o;
    case StopReason::kTimeout:
      return on_timeout;
  }
  return std::nullopt;
}

}  // namespace keel::gateway
