#pragma once

// Private to the engine: the state of one resident run and the engine's metrics.

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/local_engine.h"

namespace keel::engine {

// A run whose Lua state lives on one executor thread. Only that thread touches it.
struct LocalEngine::ActiveRun {
  model::RunRecord rec;     // as acquired: lease owner and epoch are what appends present
  uint64_t activation = 0;  // tells callbacks of an evicted activation from the current one
  std::unique_ptr<lua::WorkflowVm> vm;
  std::vector<model::JournalEntry> journal;  // entries still to replay
  size_t cursor = 0;
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

  bool replaying() const { return cursor < journal.size(); }
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
