#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "model/approval.h"
#include "model/outbox.h"
#include "model/run.h"

namespace keel::store {

// A status change committed in the same transaction as journal entries.
struct Transition {
  model::RunStatus status = model::RunStatus::kRunning;
  std::string wait_reason;  // for kWaiting
  int64_t wake_at_ms = 0;   // for kWaiting on a timer; 0: none
  std::string result_json;
  std::string error_code;
  std::string error_message;
  bool release_lease = false;  // true when the run leaves this node's memory
};

struct AdmitRequest {
  model::RunRecord run;      // id, envelope fields, status, lease, code_hash filled in
  std::string payload_hash;  // compared for idempotency
};
struct AdmitOutcome {
  model::RunRecord run;
  bool existing = false;  // an earlier run with the same tenant+key (or run_id) was returned
};

// What a run has used of its budget, written with the entries that changed it.
struct UsageUpdate {
  int64_t steps_used = 0;
  int64_t tools_used = 0;
  int64_t tokens_used = 0;
  double cost_usd = 0;
};

// A large value stored once under a key (a tool result passed by reference: "run_id:seq").
struct Blob {
  std::string key;
  std::string data;
};

struct AppendRequest {
  std::string run_id;
  std::string lease_owner;
  int64_t lease_epoch = 0;
  std::vector<model::JournalEntry> entries;  // seqs continue the run's journal contiguously
  std::optional<Transition> transition;
  std::optional<UsageUpdate> usage;  // unset: the usage columns stay as they are
  std::vector<Blob> blobs;           // inserted (if new) in the same transaction
  // Also inserted in the same transaction, each ignored if its key/id already exists (a
  // replayed write): effect intents and notifications, child runs (run.parent_run_id set;
  // status queued), approval gates (with a "created" audit event).
  std::vector<model::OutboxIntent> outbox;
  std::vector<AdmitRequest> children;
  std::vector<model::Approval> approvals;
};

// Takes the next unconsumed signal `name` of a run and journals it as entry `seq`; if there is
// none and `timeout_at_ms` has passed, journals a timeout; otherwise parks the run as waiting
// for the signal (and the timeout) and releases its lease. All in one transaction, so a
// signal delivered concurrently is never lost.
struct SignalWaitRequest {
  std::string run_id;
  std::string lease_owner;
  int64_t lease_epoch = 0;
  int64_t seq = 0;
  std::string name;
  int64_t timeout_at_ms = 0;  // 0: wait forever
  int64_t now_ms = 0;         // the engine's clock, compared with timeout_at_ms
  UsageUpdate usage;
};
struct SignalWaitOutcome {
  bool parked = false;        // the run now waits; nothing was journaled
  model::JournalEntry entry;  // when !parked: the journaled signal or timeout
};

// A delivery attempt's outcome. status: pending (retry at next_attempt_at_ms), delivered,
// failed (no more attempts).
struct OutboxUpdate {
  std::string key;
  std::string status;
  int attempts = 0;
  int64_t next_attempt_at_ms = 0;
  std::string last_error;
  std::string result_json;
  int64_t now_ms = 0;
};

struct OutboxFilter {
  std::string status;  // "": any
  std::string run_id;
  std::string tenant;
  std::string after_key;  // pagination: keys greater than this (in key order)
  int limit = 50;
};

// A person's (or the timeout's) decision on an approval.
struct ApprovalDecision {
  std::string approval_id;
  std::string decision;  // approved | denied
  std::string who;
  std::string reason;
  bool timed_out = false;
  int64_t now_ms = 0;
};
struct ApprovalOutcome {
  model::Approval approval;  // after the decision
  bool existing = false;     // this same decision had already been recorded (nothing changed)
  bool woke = false;         // the run was waiting for it and is now queued
};

// Applies an approval's timeout if it is still pending and its deadline has passed: escalate
// (escalation_level + 1, deadline = now + timeout_ms, an "escalated" audit event and, with a
// notify_target, a notification intent) while escalations remain and on_timeout is
// "escalate"; otherwise decide it by "keel:timeout" (approved for on_timeout "approve",
// denied otherwise) exactly as DecideApproval does.
struct ApprovalExpiry {
  std::string approval_id;
  int64_t now_ms = 0;
  std::string notify_target;  // tool that receives notifications; "": none
  int notify_max_attempts = 10;
};
struct ApprovalExpiryOutcome {
  model::Approval approval;  // after the change (or as found)
  bool escalated = false;
  bool decided = false;
  bool woke = false;
};

struct ApprovalFilter {
  std::string status;  // "": any
  std::string tenant;
  std::string run_id;
  std::string before_id;  // pagination: ids smaller than this (ids sort by creation time)
  int limit = 50;
};

struct DeliverOutcome {
  bool woke = false;  // the run was waiting for this signal and is now queued
};

struct AcquireOutcome {
  model::RunRecord run;  // with the new epoch
};

struct RunFilter {
  std::string tenant;
  std::string intent;
  std::optional<model::RunStatus> status;
  std::string before_id;  // pagination cursor: runs with a smaller id (older)
  int limit = 50;
};

template <typename T>
using Callback = std::function<void(Result<T>)>;

// The durable state of Keel. Writes are asynchronous: each callback runs (on the store's
// writer thread) only after the write is durable, or with the error that prevented it.
// Writes from all callers are batched into group commits. Reads are synchronous, see only
// committed data, and may be called from any thread. Implementations are thread-safe.
//
// Every write that names a lease (owner, epoch) fails with Errc::kFenced unless the run's
// current lease still matches, and with Errc::kAlreadyFinished if the run is terminal.
class Store {
 public:
  virtual ~Store() = default;

  // Inserts a run, or returns the existing one for the same (tenant, idempotency_key) or
  // run_id with the same payload; a different payload is Errc::kConflict.
  virtual void Admit(AdmitRequest req, Callback<AdmitOutcome> done) = 0;
  virtual void Append(AppendRequest req, Callback<Ok> done) = 0;
  virtual void WaitForSignal(SignalWaitRequest req, Callback<SignalWaitOutcome> done) = 0;
  // Journals every pending interrupt of the run as one entry `seq` (an array, maybe empty).
  virtual void TakeInterrupts(std::string run_id, std::string owner, int64_t epoch, int64_t seq,
                              Callback<model::JournalEntry> done) = 0;
  // Records a signal (or, with name "$interrupt", an interrupt) for a run.
  virtual void DeliverSignal(std::string run_id, std::string name, std::string payload_json,
                             Callback<DeliverOutcome> done) = 0;
  // Ends a non-terminal run with `status` whatever its lease (cancel, deadline of a parked run).
  // Any transition of a run to a terminal status (here or in Append) also cancels its
  // non-terminal descendants (child runs, recursively) in the same transaction, with
  // error_code "parent_cancelled" (or "parent_finished" when the parent did not cancel), and
  // the pending approvals of every run that ended become "withdrawn".
  virtual void Finish(std::string run_id, Transition t, Callback<model::RunRecord> done) = 0;
  // Asks a non-terminal run to cancel and compensate: sets cancel_requested; a waiting run
  // becomes queued (its wait ends) so that an executor picks it up. kAlreadyFinished if
  // terminal.
  virtual void RequestCancel(std::string run_id, Callback<model::RunRecord> done) = 0;

  // --- outbox ---
  virtual void UpdateOutbox(OutboxUpdate u, Callback<model::OutboxIntent> done) = 0;
  // Pending intents due at `now_ms`, oldest first.
  virtual Result<std::vector<model::OutboxIntent>> DueOutbox(int64_t now_ms, int limit) = 0;
  // The earliest next_attempt_at_ms of a pending intent; 0 if none is pending.
  virtual Result<int64_t> NextOutboxAttempt() = 0;
  virtual Result<model::OutboxIntent> GetOutbox(const std::string& key) = 0;
  virtual Result<std::vector<model::OutboxIntent>> ListOutbox(const OutboxFilter& f) = 0;

  // --- approvals ---
  // Records a decision once. The same decision again: `existing`, nothing changes. A
  // different one after a decision, or any on a withdrawn approval: kConflict (and a
  // "rejected" audit event). A `who` not
  // among a non-empty approvers list (unless timed_out): kInvalidArgument. On success the
  // signal "$approval:<id>" carrying ApprovalDecisionJson is delivered to the run in the same
  // transaction (waking it if it waits for that signal).
  virtual void DecideApproval(ApprovalDecision d, Callback<ApprovalOutcome> done) = 0;
  virtual void ExpireApproval(ApprovalExpiry e, Callback<ApprovalExpiryOutcome> done) = 0;
  virtual Result<model::Approval> GetApproval(const std::string& id) = 0;
  virtual Result<std::vector<model::Approval>> ListApprovals(const ApprovalFilter& f) = 0;
  virtual Result<std::vector<model::ApprovalEvent>> ApprovalAudit(const std::string& id) = 0;
  // Pending approvals with a deadline: (id, deadline_at_ms), for the engine's timers.
  virtual Result<std::vector<std::pair<std::string, int64_t>>> ApprovalDeadlines() = 0;

  // Child runs of a run (direct children only), oldest first.
  virtual Result<std::vector<model::RunRecord>> ListChildren(const std::string& parent_id) = 0;
  // Takes the lease of a queued/waiting/running run for `owner`, bumping the epoch; the run
  // becomes running. Fails with kAlreadyFinished for a terminal run.
  virtual void Acquire(std::string run_id, std::string owner, int64_t expires_at_ms,
                       Callback<AcquireOutcome> done) = 0;
  // Extends every lease `owner` holds.
  virtual void Heartbeat(std::string owner, int64_t expires_at_ms, Callback<Ok> done) = 0;
  // Drops every lease `owner` holds (graceful shutdown); their runs stay resumable.
  virtual void ReleaseAll(std::string owner, Callback<Ok> done) = 0;

  // Start-up recovery: takes over the runs that must be executed (queued and running runs
  // whose lease expired, or all of them when `take_all`, which a node that holds the data
  // directory lock may do) and returns them with their new epochs.
  virtual Result<std::vector<model::RunRecord>> TakeOverRuns(std::string owner,
                                                             int64_t expires_at_ms, bool take_all,
                                                             int64_t now_ms) = 0;
  // Waiting runs with a timer, for the scheduler: (run_id, wake_at_ms).
  virtual Result<std::vector<std::pair<std::string, int64_t>>> WaitingTimers() = 0;

  virtual Status PutWorkflow(const std::string& code_hash, const std::string& intent,
                             const std::string& source) = 0;
  virtual Result<std::string> GetWorkflow(const std::string& code_hash) = 0;
  // A blob written by Append; kNotFound if absent.
  virtual Result<std::string> GetBlob(const std::string& key) = 0;

  virtual Result<model::RunRecord> GetRun(const std::string& run_id) = 0;
  virtual Result<std::vector<model::RunRecord>> ListRuns(const RunFilter& filter) = 0;
  virtual Result<std::vector<model::JournalEntry>> ReadJournal(const std::string& run_id,
                                                               int64_t after_seq, int limit) = 0;
  // Counts for metrics: runs by (intent, status) and queue depth.
  virtual Result<std::vector<std::tuple<std::string, std::string, int64_t>>> CountRuns() = 0;

  // Stops accepting writes after flushing those already submitted.
  virtual void Drain() = 0;
};

}  // namespace keel::store
