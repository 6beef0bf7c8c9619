#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace keel::model {

// Run statuses and the transitions between them are documented in docs/run_states.md.
enum class RunStatus {
  kQueued,   // woken (its signal arrived), not yet taken by an executor
  kRunning,  // admitted, or resumed: a node holds its lease (also during short sleeps)
  kWaiting,  // parked on a timer or a signal; holds no memory
  kSucceeded,
  kFailed,
  kCancelled,
  kTimedOut,            // its deadline_ms passed
  kBudgetExhausted,     // a budget limit other than the deadline (max_steps) was reached
  kCompensated,         // it failed (or was cancelled) and every registered undo step ran
  kCompensationFailed,  // an undo step failed for good: a person must act (error names it)
};

std::string_view StatusName(RunStatus s);
std::optional<RunStatus> ParseStatus(std::string_view name);
inline bool IsTerminal(RunStatus s) {
  return s != RunStatus::kQueued && s != RunStatus::kRunning && s != RunStatus::kWaiting;
}

// Limits a caller puts on a run. Zero means "no limit" for the field.
struct Budget {
  int64_t deadline_ms = 0;
  int64_t max_steps = 0;    // durable actions that do work: ctx.step, ctx.llm, ctx.tool
  int64_t max_tools = 0;    // ctx.tool calls
  int64_t max_tokens = 0;   // input + output tokens over the whole run
  int64_t max_context = 0;  // input tokens of any single model call
  double max_cost_usd = 0;  // model spend over the whole run
};

// The invocation envelope of DESIGN.md, as validated at the door.
struct Envelope {
  std::string run_id;  // empty: the server assigns a UUIDv7
  std::string intent;
  std::string tenant = "default";
  std::string user;
  Budget budget;
  std::string idempotency_key;
  std::string correlation_id;
  std::string payload_json = "{}";  // serialized JSON value
};

// A run as stored.
struct RunRecord {
  std::string id;
  std::string intent;
  std::string tenant;
  std::string user;
  std::string idempotency_key;
  std::string correlation_id;
  std::string payload_json;
  Budget budget;
  std::string code_hash;
  RunStatus status = RunStatus::kQueued;
  std::string wait_reason;  // "timer" or "signal:<name>" while waiting
  int64_t wake_at_ms = 0;   // 0: no timer
  int64_t deadline_at_ms = 0;
  std::string result_json;  // set when succeeded (and for partial results)
  std::string error_code;
  std::string error_message;
  int64_t steps_used = 0;
  int64_t tools_used = 0;
  int64_t tokens_used = 0;
  double cost_usd = 0;
  std::string lease_owner;
  int64_t lease_epoch = 0;
  int64_t lease_expires_at_ms = 0;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  std::string parent_run_id;  // set for a child run (ctx.run, ctx.agent)
  // A cancel with compensation was asked for: the run's undo steps run, then it ends
  // compensated (docs/compensation.md).
  bool cancel_requested = false;
};

// Kinds of journal records; docs/journal_format.md says what each one holds.
enum class EntryKind {
  kStep,
  kSleep,
  kSignal,
  kNow,
  kRandom,
  kUuid,
  kEmit,
  kInterrupts,
  kLlm,          // a model call through the gateway: request and response
  kTool,         // a tool call through the gateway: arguments and result (or error)
  kConfig,       // configuration a run depends on, fixed at first use (an agent's spec)
  kOutbox,       // an effect tool's intent, written with its outbox row; its outcome is a kTool
  kChild,        // a child run was started: {"run_id"}
  kChildResult,  // the child's end: {"run_id","status","result","error","usage"}
  kApproval,     // an approval gate was created: {"approval_id","deadline_at_ms"}
  kParallel,     // marks a ctx.parallel/ctx.map: {"branches": n}
  kError,        // an action refused with a ctx error (budget, cancel): replay raises it again
};
std::string_view EntryKindName(EntryKind k);
std::optional<EntryKind> ParseEntryKind(std::string_view name);

struct JournalEntry {
  std::string run_id;
  int64_t seq = 0;  // 1, 2, 3, ... contiguous per run
  EntryKind kind = EntryKind::kStep;
  std::string name;
  std::string request_hash;  // hex of what the code asked for (kind, name, arguments)
  std::string result_json;   // the value replay returns
  int64_t created_at_ms = 0;
  std::string request_json;  // llm/tool: what was sent (for transcripts); "" otherwise
  // The parallel branch that wrote it ("1.3": branch 3 of the run's first ctx.map; nested
  // branches "1.3/1.2"); "" for the workflow's main line. Replay feeds each branch its own
  // entries in order, so branches may commit in any interleaving.
  std::string branch;
};

}  // namespace keel::model
