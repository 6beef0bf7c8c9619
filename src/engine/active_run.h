#pragma once

// Private to the engine: the state of one resident run and the engine's metrics.

#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/local_engine.h"

namespace keel::engine {

// An answer for an action of a parallel branch, waiting for the Lua scheduler.
struct BranchCompletion {
  std::string tag;
  bool ok = false;
  std::vector<std::string> values;
};

// A run whose Lua state lives on one executor thread. Only that thread touches it.
struct LocalEngine::ActiveRun {
  model::RunRecord rec;     // as acquired: lease owner and epoch are what appends present
  uint64_t activation = 0;  // tells callbacks of an evicted activation from the current one
  std::unique_ptr<lua::WorkflowVm> vm;
  std::vector<model::JournalEntry> journal;  // main-line entries still to replay
  size_t cursor = 0;
  // Entries of parallel branches still to replay, by branch tag, in journal order.
  std::unordered_map<std::string, std::deque<model::JournalEntry>> branch_journal;
  // The branch the action being handled belongs to ("" for the main line). Handlers set it
  // back when their asynchronous part resumes, so entries and answers go to the right lane.
  std::string lane;
  // Answers for branches (ctx.parallel), waiting to be handed to the Lua scheduler.
  std::vector<BranchCompletion> completions;
  bool awaiting = false;  // the scheduler is parked in an "await" action
  // Sagas: undo steps registered in Lua (their number), and whether they are running.
  int saga_depth = 0;
  bool compensating = false;
  bool cancel_requested = false;  // cancel with compensation was asked for
  // The end a refused action announced (budget, cancel) while undo steps are registered: the
  // run ends with it whatever the workflow does after catching the error.
  struct PendingEnd {
    model::RunStatus status = model::RunStatus::kFailed;
    std::string code, message, result_json;
  };
  std::optional<PendingEnd> pending_end;
  bool has_children = false;  // started (or replayed the start of) a child run
  // Journal entries per branch lane so far (replayed and new): stable call numbers for the
  // Idempotency-Key of a branch's tool calls.
  std::unordered_map<std::string, int64_t> lane_entries;
  int64_t next_seq = 1;
  // Budget use, recomputed by replay from the journal (so it survives a crash exactly).
  int64_t steps_used = 0;
  int64_t tools_used = 0;
  int64_t tokens_used = 0;
  double cost_usd = 0;
  std::string last_answer;  // the latest non-empty model text: the partial answer at a limit
  // Loop detection: how often each llm request / tool call (by request hash) was made.
  std::unordered_map<std::string, int> repeats;
  int loop_max_repeats = 0;
  // What the run was parked on before this activation (signal timeouts keep their deadline).
  std::string resumed_wait_reason;
  int64_t resumed_wake_at = 0;
  int64_t action_started_us = 0;
  bool acquiring = false;  // placeholder while the lease is being taken
  bool finishing = false;  // a terminal transition is in flight; do nothing more

  // Whether the current lane still has journaled entries to replay.
  bool replaying() const {
    if (lane.empty()) return cursor < journal.size();
    auto it = branch_journal.find(lane);
    return it != branch_journal.end() && !it->second.empty();
  }
};

struct LocalEngine::Metrics {
  explicit Metrics(obs::Registry& r);
  obs::Counter& Started(const std::string& intent);
  obs::Counter& Finished(const std::string& intent, model::RunStatus status);
  obs::Counter& Tokens(const std::string& intent, const std::string& tenant,
                       const std::string& direction);
  obs::Counter& CostMicros(const std::string& intent, const std::string& tenant);
  obs::Counter& ToolCalls(const std::string& intent, const std::string& outcome);

  obs::Registry& registry;
  obs::Histogram& step_seconds;
  obs::Gauge& resident_runs;
  obs::Counter& replayed_entries;
  obs::Counter& nondeterminism;
  obs::Counter& write_retries;
  obs::Counter& wakeups;
  obs::Counter& loops;
  obs::Counter& unavailable_waits;
};

}  // namespace keel::engine
