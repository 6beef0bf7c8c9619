#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/random.h"
#include "base/timer_queue.h"
#include "engine/engine.h"
#include "engine/executor_pool.h"
#include "engine/outbox_dispatcher.h"
#include "engine/watchers.h"
#include "engine/workflow_registry.h"
#include "gateway/gateway.h"
#include "lua/workflow_vm.h"
#include "model/agent.h"
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
  // Model and tool calls (ctx.llm, ctx.tool); null: those calls fail with a clear error.
  // Not owned; must outlive the engine's Drain.
  gateway::Gateway* gateway = nullptr;
  // Agents by name, for ctx.agent and the agent loop's spec (their intents are registered
  // in the WorkflowRegistry by the composition root).
  std::map<std::string, model::AgentSpec> agents;
  // Loop detection for runs that are not agents: the same llm request or tool call (same
  // arguments) seen this many times ends the run with loop_detected. 0: off.
  int loop_max_repeats = 3;
  // Tool results larger than this are stored once as a blob and journaled by reference.
  int64_t tool_result_inline_bytes = 16 * 1024;
  // Approval notifications: the tool that receives them (the [approvals] webhook); "": none.
  std::string approval_notify_tool;
  int approval_notify_max_attempts = 10;
  OutboxDispatcher::Options outbox;
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
  void Cancel(const std::string& run_id, bool compensate,
              store::Callback<model::RunRecord> done) override;
  void Interrupt(const std::string& run_id, std::string input_json,
                 store::Callback<Ok> done) override;
  void Signal(const std::string& run_id, const std::string& name, std::string payload_json,
              store::Callback<Ok> done) override;
  WatchId OnTerminal(const std::string& run_id, bool check_now,
                     std::function<void(const model::RunRecord&)> cb) override;
  WatchId OnChange(const std::string& run_id, std::function<void()> cb) override;
  WatchId OnLive(const std::string& run_id,
                 std::function<void(const std::string&, const std::string&)> cb) override;
  boost::json::object GatewayStatus() const override;
  void Unwatch(WatchId id) override;
  void DecideApproval(store::ApprovalDecision d,
                      store::Callback<store::ApprovalOutcome> done) override;
  Result<model::Approval> GetApproval(const std::string& id) override;
  Result<std::vector<model::Approval>> ListApprovals(const store::ApprovalFilter& f) override;
  Result<std::vector<model::ApprovalEvent>> ApprovalAudit(const std::string& id) override;
  Result<std::vector<model::OutboxIntent>> ListOutbox(const store::OutboxFilter& f) override;
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
  // True when the next journal entry is `want` "name"; otherwise fails the run with a
  // non-determinism error naming both.
  bool MatchJournal(ActiveRun& run, model::EntryKind want, const std::string& name);
  // The next journal entry of the current lane, and taking it (releasing the main journal
  // when its replay ends).
  const model::JournalEntry& PeekEntry(ActiveRun& run);
  model::JournalEntry ConsumeEntry(ActiveRun& run);
  std::optional<lua::VmEvent> Live(ActiveRun& run, const lua::Action& a);
  // Commits `entries` (and a transition, and the rows of `extra`: blobs, outbox intents,
  // child runs, approvals), then runs `then` on the run's executor, in the same lane.
  void AppendThen(ActiveRun& run, std::vector<model::JournalEntry> entries,
                  std::optional<store::Transition> transition, std::function<void(ActiveRun&)> then,
                  store::AppendRequest extra = {});
  // Waits for wall time `wake_at` with the Lua state resident or parked, then resumes.
  std::optional<lua::VmEvent> SleepUntil(ActiveRun& run, int64_t wake_at,
                                         std::vector<model::JournalEntry> entries);
  std::optional<lua::VmEvent> ResumeSignal(ActiveRun& run, const std::string& result_json);
  // The run now waits parked (its lease released): drop its Lua state and wake it at `at_ms`
  // (0: only a signal wakes it), or at once if a cancel with compensation arrived meanwhile.
  void Park(ActiveRun& run, int64_t at_ms);
  // A cancel with compensation reached the run: raise it into Lua when undo steps are
  // registered, otherwise end the run cancelled.
  std::optional<lua::VmEvent> StopForCancel(ActiveRun& run);
  // Waits for signal `name` (journaled when taken; the run parks meanwhile), then `resume`.
  using SignalResume =
      std::function<std::optional<lua::VmEvent>(ActiveRun&, const std::string& result_json)>;
  std::optional<lua::VmEvent> AwaitSignal(ActiveRun& run, const std::string& name,
                                          int64_t timeout_at, SignalResume resume);
  // Ends the run: commits `entries` and the terminal transition together.
  void Finish(ActiveRun& run, store::Transition t, std::vector<model::JournalEntry> entries = {});
  void Evict(const std::string& run_id);
  void OnWriteError(const std::string& run_id, uint64_t activation, const Error& e);
  bool CheckDeadline(ActiveRun& run);
  void FailRun(ActiveRun& run, model::RunStatus status, const std::string& code,
               const std::string& message, std::vector<model::JournalEntry> entries = {});
  // Ends the run with budget_exhausted and its best partial answer.
  void ExhaustBudget(ActiveRun& run, const std::string& message);

  // --- model and tool calls (gateway_actions.cc) ---
  // Budget and loop checks before a call; false when they ended the run.
  bool AdmitCall(ActiveRun& run, const std::string& request_hash, const std::string& what);
  std::optional<lua::VmEvent> LiveLlm(ActiveRun& run, const lua::Action& a);
  std::optional<lua::VmEvent> LiveTools(ActiveRun& run, const lua::Action& a);
  std::optional<lua::VmEvent> LiveConfig(ActiveRun& run, const lua::Action& a);
  // Replays journaled llm/tool entries (a batch of tools takes several); nullopt when the
  // run ended or waits.
  std::optional<lua::VmEvent> ReplayCall(ActiveRun& run, const lua::Action& a);
  std::optional<lua::VmEvent> BudgetReport(ActiveRun& run);
  // Parks the run until `retry_at_ms` (bounded by its deadline) because every provider or
  // tool it needs is unavailable; it resumes by replaying to the same call.
  void ParkUnavailable(ActiveRun& run, const std::string& reason, int64_t retry_at_ms,
                       const std::string& message);
  // A cancel token for a gateway call of the run, cancelled with the run.
  std::shared_ptr<gateway::CancelToken> NewCallToken(const std::string& run_id);
  store::UsageUpdate UsageOf(const ActiveRun& run) const;
  ActiveRun* Find(const std::string& run_id, uint64_t activation);
  model::JournalEntry NewEntry(ActiveRun& run, model::EntryKind kind, const std::string& name,
                               const std::string& arg_json, std::string result_json);

  // --- answers, branches, sagas, child runs, approvals, effects (workflow_actions.cc) ---
  // Answers the action being handled in the current lane: on the main line it resumes Lua
  // and returns its next event; for a branch it queues the answer for the Lua scheduler.
  std::optional<lua::VmEvent> Reply(ActiveRun& run, bool ok, std::vector<std::string> values);
  // The same from an asynchronous continuation (a commit, a gateway call): drives the run on.
  void Continue(ActiveRun& run, bool ok, std::vector<std::string> values);
  // Fails the current action with a ctx error that is journaled (an "error" entry), so that
  // replay raises it at the same place; in replay, takes that entry instead. An error carrying
  // "run_status" becomes the run's pending end.
  std::optional<lua::VmEvent> Refuse(ActiveRun& run, std::string error_json);
  // Ends the run, or, when undo steps are registered and not yet running, refuses the current
  // action with the error so that they run first (and the run then ends with `status`).
  void EndOrRaise(ActiveRun& run, model::RunStatus status, const std::string& code,
                  const std::string& message, const std::string& result_json = "");
  std::optional<lua::VmEvent> HandleAwait(ActiveRun& run, const lua::Action& a);
  std::optional<lua::VmEvent> HandleSaga(ActiveRun& run, const lua::Action& a);
  std::optional<lua::VmEvent> HandleFail(ActiveRun& run, const lua::Action& a);
  std::optional<lua::VmEvent> LiveChild(ActiveRun& run, const lua::Action& a);
  std::optional<lua::VmEvent> ReplayChild(ActiveRun& run, const lua::Action& a);
  void WaitChild(ActiveRun& run, const std::string& child_id, const std::string& intent,
                 const std::string& on_error, int64_t timeout_at);
  void SettleChild(ActiveRun& run, const std::string& intent, const std::string& on_error,
                   const model::RunRecord* child, const std::string& child_id);
  std::optional<lua::VmEvent> LiveApproval(ActiveRun& run, const lua::Action& a);
  std::optional<lua::VmEvent> ReplayApproval(ActiveRun& run, const lua::Action& a);
  std::optional<lua::VmEvent> WaitApproval(ActiveRun& run, const std::string& approval_id,
                                           bool required);
  void ScheduleApprovalExpiry(const std::string& approval_id, int64_t at_ms);
  void ExpireApproval(const std::string& approval_id);
  // Effect tools: the intent goes to the outbox; the outcome is journaled when it settles.
  struct EffectCall {
    std::string name;
    std::string args_json;
    std::string hash;
    std::string on_error;
    std::string compensate_with;
    std::string key;
    int64_t timeout_at = 0;  // wall ms after which the workflow stops waiting; 0: none
  };
  std::optional<lua::VmEvent> LiveEffect(ActiveRun& run, EffectCall call, int max_attempts);
  std::optional<lua::VmEvent> ReplayEffect(ActiveRun& run, const lua::Action& a);
  void WaitEffect(ActiveRun& run, EffectCall call);
  void SettleEffect(ActiveRun& run, const EffectCall& call, const model::OutboxIntent& row);
  void OnOutboxSettled(const model::OutboxIntent& row);
  // After a run ended: its descendants were cancelled in the same transaction; stop and
  // report those this node holds.
  void StopDescendants(const std::string& run_id);
  // The admission record of a new run (Submit, child runs).
  Result<store::AdmitRequest> NewRun(const model::Envelope& env, int64_t now);

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

  // Interrupt flags of resident VMs and the cancel token of their in-flight gateway call,
  // by run id, for threads other than the run's executor (cancel, deadline).
  struct RunHandles {
    std::shared_ptr<std::atomic<bool>> vm;
    // Tokens of the run's gateway calls (several when parallel branches call at once).
    std::vector<std::weak_ptr<gateway::CancelToken>> calls;
  };
  std::mutex flags_mu_;
  std::unordered_map<std::string, RunHandles> flags_;

  // Runs waiting for an effect's outcome, by outbox key (dispatcher threads settle them).
  struct EffectWaiter {
    std::string run_id;
    uint64_t activation = 0;
    std::string lane;
    EffectCall call;
  };
  std::mutex effects_mu_;
  std::unordered_map<std::string, EffectWaiter> effect_waiters_;
  std::unique_ptr<OutboxDispatcher> outbox_;

  // Resident runs, one map per executor thread; only that thread touches its map.
  std::vector<std::unordered_map<std::string, std::unique_ptr<ActiveRun>>> shards_;
};

}  // namespace keel::engine
