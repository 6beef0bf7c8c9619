#include "model/run.h"

#include "model/agent.h"
#include "model/json.h"

#include <array>
#include <utility>

namespace keel::model {

namespace {
constexpr std::array<std::pair<RunStatus, std::string_view>, 10> kStatuses{{
    {RunStatus::kQueued, "queued"},
    {RunStatus::kRunning, "running"},
    {RunStatus::kWaiting, "waiting"},
    {RunStatus::kSucceeded, "succeeded"},
    {RunStatus::kFailed, "failed"},
    {RunStatus::kCancelled, "cancelled"},
    {RunStatus::kTimedOut, "timed_out"},
    {RunStatus::kBudgetExhausted, "budget_exhausted"},
    {RunStatus::kCompensated, "compensated"},
    {RunStatus::kCompensationFailed, "compensation_failed"},
}};
constexpr std::array<std::pair<EntryKind, std::string_view>, 17> kKinds{{
    {EntryKind::kStep, "step"},
    {EntryKind::kSleep, "sleep"},
    {EntryKind::kSignal, "signal"},
    {EntryKind::kNow, "now"},
    {EntryKind::kRandom, "random"},
    {EntryKind::kUuid, "uuid"},
    {EntryKind::kEmit, "emit"},
    {EntryKind::kInterrupts, "interrupts"},
    {EntryKind::kLlm, "llm"},
    {EntryKind::kTool, "tool"},
    {EntryKind::kConfig, "config"},
    {EntryKind::kOutbox, "outbox"},
    {EntryKind::kChild, "child"},
    {EntryKind::kChildResult, "child_result"},
    {EntryKind::kApproval, "approval"},
    {EntryKind::kParallel, "parallel"},
    {EntryKind::kError, "error"},
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

boost::json::object AgentSpecToJson(const AgentSpec& spec) {
  boost::json::object o;
  o["name"] = spec.name;
  o["description"] = spec.description;
  o["model"] = spec.model;
  o["system_prompt"] = spec.system_prompt;
  o["budget"] = BudgetToJson(spec.budget);
  o["loop_max_repeats"] = spec.loop_max_repeats;
  o["degrade_at"] = spec.degrade_at;
  o["max_turns"] = spec.max_turns;
  o["output_schema"] = spec.output_schema;
  // Lua has no JSON encoder; the loop puts this text in the system prompt.
  o["output_schema_text"] =
      spec.output_schema.is_null() ? "" : boost::json::serialize(spec.output_schema);
  o["stream"] = spec.stream;
  return o;
}

}  // namespace keel::model
