#include "model/run.h"

#include <array>
#include <utility>

namespace keel::model {

namespace {
constexpr std::array<std::pair<RunStatus, std::string_view>, 8> kStatuses{{
    {RunStatus::kQueued, "queued"},
    {RunStatus::kRunning, "running"},
    {RunStatus::kWaiting, "waiting"},
    {RunStatus::kSucceeded, "succeeded"},
    {RunStatus::kFailed, "failed"},
    {RunStatus::kCancelled, "cancelled"},
    {RunStatus::kTimedOut, "timed_out"},
    {RunStatus::kBudgetExhausted, "budget_exhausted"},
}};
constexpr std::array<std::pair<EntryKind, std::string_view>, 8> kKinds{{
    {EntryKind::kStep, "step"},
    {EntryKind::kSleep, "sleep"},
    {EntryKind::kSignal, "signal"},
    {EntryKind::kNow, "now"},
    {EntryKind::kRandom, "random"},
    {EntryKind::kUuid, "uuid"},
    {EntryKind::kEmit, "emit"},
    {EntryKind::kInterrupts, "interrupts"},
}};
}  // namespace

std::string_view StatusName(RunStatus s) {
  for (auto& [v, n] : kStatuses)
    if (v == s) return n;
  return "unknown";
}

std::optional<RunStatus> ParseStatus(std::string_view name) {
  for (auto& [v, n] : kStatuses)
    if (n == name) return v;
  return std::nullopt;
}

std::string_view EntryKindName(EntryKind k) {
  for (auto& [v, n] : kKinds)
    if (v == k) return n;
  return "unknown";
}

std::optional<EntryKind> ParseEntryKind(std::string_view name) {
  for (auto& [v, n] : kKinds)
    if (n == name) return v;
  return std::nullopt;
}

}  // namespace keel::model
