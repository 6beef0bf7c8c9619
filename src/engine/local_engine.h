#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/random.h"
#include "engine/engine.h"
#include "engine/executor_pool.h"
#include "engine/timer_queue.h"
#include "engine/watchers.h"
#include "engine/workflow_registry.h"
#include "lua/workflow_vm.h"
#include "observability/metrics.h"
#include "store/store.h"

namespace keel::engine {

struct EngineOptions {
  std::string node_id;       // lease owner name; empty: a random one
  int executor_threads = 2;  // threads running Lua
  int64_t lease_ttl_ms = 15'000;
  // Sleeps shorter than this keep the run's Lua state in memory (status stays running);
  // longer waits park the run (status waiting, no memory held) and replay it on wake-up.
  int64_t resident_sleep_ms = 1'000;
  // The data directory is locked by this process, so every lease found at start-up belongs
  // to a dead predecessor and is taken over at once (SQLite mode).
  bool exclusive_store = true;
  lua::VmLimits vm;
  // Delay before a run whose journal write failed (disk full, I/O error) is retried.
  int64_t storage_retry_ms = 1'000;
};

// The engine of one node: admission, leases, executors, timers, signals. See engine.h for the
// contract and docs/run_states.md for the state machine it implements.
//
// Threads: the store's writer thread runs commit callbacks, which only post to executors;
// executor threads own the resident runs (Lua states); the timer thread only posts.
class LocalEngine final : public Engine {
 public:
  LocalEngine(EngineOptions options, store::Store& store, WorkflowRegistry& registry,
              const Clock& clock, Random& random, obs::Registry& metrics);
  ~LocalEngine() override;

  // Recovers the runs this node must execute, starts timers, executors and heartbeats.
  Status Start();
  // Stops admitting, waits up to `timeout_ms` for resident runs to finish or park, then
  // releases every lease and stops the threads. Returns the number of runs left resident.
  int64_t Drain(int64_t timeout_ms);
  void SetDraining() { draining_ = true; }

  void Submit(model::Envelope env, store::Callback<SubmitOutcome> done) override;
  void Cancel(const std::string& run_id, store::Callback<model::RunRecord> done) override;
  void Interrupt(const std::string& run_id, std::string input_json,
                 store::Callback<Ok> done) override;
  void Signal(const std::string& run_id, const std::string& name, std::string payload_json,
              store::Callback<Ok> done) override;
  WatchId OnTerminal(const std::string& run_id, bool check_now,
                     std::function<void(const model::RunRecord&)> cb) override;
  WatchId OnChange(const std::string& run_id, std::function<void()> cb) override;
  void Unwatch(WatchId id) override;
  Result<model::RunRecord> GetRun(const std::string& run_id) override;
  Result<std::vector<model::RunRecord>> ListRuns(const store::RunFilter& filter) override;
  Result<std::vector<model::JournalEntry>> ReadJournal(const std::string& run_id, int64_t after_seq,
                                                       int limit) override;
  EngineState State() const override;

  const std::string& node_id() const { return options_.node_id; }

 private:
  struct ActiveRun;
  struct Metrics;

  // --- executor-thread side (run_driver.cc); `shard` is the executor's index ---
  // Makes a run resident under the lease in `rec` and starts or replays it. A fresh run has
  // no journal yet; any other reads its journal first.
  void Activate(model::RunRecord rec, bool fresh);
  // Activate on the run's own executor thread (any thread may call it).
  void PostActivate(model::RunRecord rec, bool fresh);
  void Drive(ActiveRun& run, lua::VmEvent ev);
  // Handles one action; returns the next event when it can answer at once, or nullopt when
  // the run now waits for a commit, a timer or a signal.
  std::optional<lua::VmEvent> HandleAction(ActiveRun& run, const lua::Action& a);
  std::optional<lua::VmEvent> Replay(ActiveRun& run, const lua::Action& a);
  std::optional<lua::VmEvent> Live(ActiveRun& run, const lua::Action& a);
  // Commits `entries` (and a transition), then runs `then` on the run's executor.
  void AppendThen(ActiveRun& run, std::vector<model::JournalEntry> entries,
                  std::optional<store::Transition> transition,
                  std::function<void(ActiveRun&)> then);
  // Waits for wall time `wake_at` with the Lua state resident or parked, then resumes.
  std::optional<lua::VmEvent> SleepUntil(ActiveRun& run, int64_t wake_at,
                                         std::vector<model::JournalEntry> entries);
  lua::VmEvent ResumeSignal(ActiveRun& run, const std::string& result_json);
  void Finish(ActiveRun& run, store::Transition t);
  void Evict(const std::string& run_id);
  void OnWriteError(const std::string& run_id, uint64_t activation, const Error& e);
  bool CheckDeadline(ActiveRun& run);
  void FailRun(ActiveRun& run, model::RunStatus status, const std::string& code,
               const std::string& message);
  ActiveRun* Find(const std::string& run_id, uint64_t activation);
  model::JournalEntry NewEntry(ActiveRun& run, model::EntryKind kind, const std::string& name,
                               const std::string& arg_json, std::string result_json);

  // --- wake-ups (any thread) ---
  void Wake(const std::string& run_id);
  void WakeOnExecutor(const std::string& run_id);
  void ScheduleWake(const std::string& run_id, int64_t at_ms);
  void Heartbeat();

  void Terminal(const model::RunRecord& rec);

  EngineOptions options_;
  store::Store& store_;
  WorkflowRegistry& registry_;
  const Clock& clock_;
  Random& random_;
  std::unique_ptr<Metrics> metrics_;
  Watchers watchers_;
  ExecutorPool executors_;
  TimerQueue timers_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<int64_t> resident_{0};
  std::atomic<uint64_t> next_activation_{1};

  // Sets the interrupt flag of a resident run's VM, stopping Lua mid-computation.
  void InterruptVm(const std::string& run_id);

  // Interrupt flags of resident VMs by run id, for threads other than the run's executor.
  std::mutex flags_mu_;
  std::unordered_map<std::string, std::shared_ptr<std::atomic<bool>>> flags_;

  // Resident runs, one map per executor thread; only that thread touches its map.
  std::vector<std::unordered_map<std::string, std::unique_ptr<ActiveRun>>> shards_;
};

}  // namespace keel::engine
