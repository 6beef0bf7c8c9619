#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "base/result.h"
#include "model/run.h"
#include "store/store.h"

namespace keel::engine {

struct SubmitOutcome {
  model::RunRecord run;
  bool existing = false;  // idempotent replay: an earlier run was returned
};

// What the engine reports about itself (readiness, metrics).
struct EngineState {
  bool draining = false;
  int64_t active_runs = 0;  // runs resident in executors
  int64_t queued_runs = 0;  // tasks waiting in executor queues
  std::vector<std::string> intents;
};

// The engine executes runs: admission, leases, timers, signals and the Lua executor.
//
// All callbacks may run on engine or store threads: they must be quick and must not block
// (post the real work to your own executor). Thread-safe.
class Engine {
 public:
  virtual ~Engine() = default;

  // Admits a run. `done` runs once the run (or the existing idempotent one) is durable, and
  // before the run takes its first step, so an OnTerminal registered inside `done` with
  // `check_now=false` cannot miss the end. Errors: kNotFound (unknown intent; the message
  // starts with "unknown intent"),
  // kConflict (idempotency key reused with another payload), kUnavailable (draining),
  // kStorage / kStorageFull.
  virtual void Submit(model::Envelope env, store::Callback<SubmitOutcome> done) = 0;

  // Cancels a run at once (and its child runs). With `compensate`, a run that registered undo
  // steps (ctx.compensate, compensate_with) runs them first and ends compensated; the
  // returned record is then the run as it is when the request was recorded.
  virtual void Cancel(const std::string& run_id, bool compensate,
                      store::Callback<model::RunRecord> done) = 0;
  // Queues `input_json` for the run; the workflow reads it with ctx.interrupts().
  virtual void Interrupt(const std::string& run_id, std::string input_json,
                         store::Callback<Ok> done) = 0;
  virtual void Signal(const std::string& run_id, const std::string& name, std::string payload_json,
                      store::Callback<Ok> done) = 0;

  using WatchId = uint64_t;
  // Calls `cb` exactly once with the run's record when it reaches a terminal status. With
  // `check_now`, also reads the store after registering, so a run that already ended fires
  // at once. Release with Unwatch (safe after it fired).
  virtual WatchId OnTerminal(const std::string& run_id, bool check_now,
                             std::function<void(const model::RunRecord&)> cb) = 0;
  // Calls `cb` after every committed change of the run (journal entries, status), until
  // Unwatch. Used by event streams, which then read the journal.
  virtual WatchId OnChange(const std::string& run_id, std::function<void()> cb) = 0;
  // Calls `cb` with events that are not journaled, as they happen: "token" ({"seq","text"}:
  // streamed model text for the llm entry that will take `seq`) and "attempt" ({"seq",
  // "target","outcome","error",...}: a retry, fallback or breaker decision). Until Unwatch.
  virtual WatchId OnLive(
      const std::string& run_id,
      std::function<void(const std::string& type, const std::string& data_json)> cb) = 0;
  virtual void Unwatch(WatchId id) = 0;

  // Gateway state for `keel status`: {"breakers": [...]} ({} without a gateway).
  virtual boost::json::object GatewayStatus() const = 0;

  // Records a person's decision on an approval and wakes the run (see Store::DecideApproval
  // for the rules: once, 409 on a different second decision, approvers).
  virtual void DecideApproval(store::ApprovalDecision d,
                              store::Callback<store::ApprovalOutcome> done) = 0;
  virtual Result<model::Approval> GetApproval(const std::string& id) = 0;
  virtual Result<std::vector<model::Approval>> ListApprovals(const store::ApprovalFilter& f) = 0;
  virtual Result<std::vector<model::ApprovalEvent>> ApprovalAudit(const std::string& id) = 0;
  virtual Result<std::vector<model::OutboxIntent>> ListOutbox(const store::OutboxFilter& f) = 0;

  // Reads (committed data).
  virtual Result<model::RunRecord> GetRun(const std::string& run_id) = 0;
  virtual Result<std::vector<model::RunRecord>> ListRuns(const store::RunFilter& filter) = 0;
  virtual Result<std::vector<model::JournalEntry>> ReadJournal(const std::string& run_id,
                                                               int64_t after_seq, int limit) = 0;

  virtual EngineState State() const = 0;
};

}  // namespace keel::engine
