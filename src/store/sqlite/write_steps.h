#pragma once

// The pieces that write ops are made of. Each runs on the writer thread inside the batch
// transaction (under the op's savepoint), so an op that fails after some of them rolls them
// back with it. Private to store/sqlite.

#include <memory>
#include <optional>
#include <string>

#include "model/approval.h"
#include "model/outbox.h"
#include "model/run.h"
#include "store/sqlite/db.h"
#include "store/store.h"

namespace keel::store::sqlite {

// The store's own clock, for bookkeeping rows; journaled times come from the engine's Clock.
int64_t NowMs();

// The fencing check every lease-holding write makes in its own transaction.
Status CheckLease(Conn& c, const std::string& run_id, const std::string& owner, int64_t epoch);

// Appends one entry; refuses a gap or a duplicate seq (kFenced).
Status InsertEntry(Conn& c, const model::JournalEntry& e, int64_t now);
Status WriteUsage(Conn& c, const std::string& run_id, const UsageUpdate& u);
Status InsertBlob(Conn& c, const Blob& b, int64_t now);

// Who "decides" an approval withdrawn because its run ended.
inline constexpr const char* kRunEndedDecider = "keel:run_ended";

// Writes a status change; a terminal status also cancels the run's descendants and withdraws
// the pending approvals of the run and of those descendants.
Status ApplyTransition(Conn& c, const std::string& run_id, const Transition& t,
                       const std::optional<UsageUpdate>& usage, int64_t now);
// Cancels every non-terminal run below `parent_id` (recursively), naming the parent.
Status CancelDescendants(Conn& c, const std::string& parent_id, model::RunStatus parent_status,
                         int64_t now);

// Withdraws every pending approval of the ended run `run_id` and of its ended descendants:
// nobody can act on their decision any more, so they must leave the pending lists (and the
// engine's timers). Each gets status "withdrawn" by kRunEndedDecider and a "withdrawn" audit
// event.
Status WithdrawApprovals(Conn& c, const std::string& run_id, int64_t now);

// Inserts a run row (and its idempotency key). With `or_ignore`, an existing id is left as
// it is and false is returned.
Result<bool> InsertRun(Conn& c, const AdmitRequest& req, bool or_ignore);

// Records signal `name` for `run` and queues the run if it waits for exactly that signal.
// Returns whether it woke the run. The caller decides whether a terminal run may get one.
Result<bool> RecordSignal(Conn& c, const model::RunRecord& run, const std::string& name,
                          const std::string& payload_json, int64_t now);

// Inserts an intent unless its key exists; false if it did.
Result<bool> InsertOutbox(Conn& c, model::OutboxIntent o, int64_t now);
// Inserts an approval and its "created" audit event unless its id exists.
Status InsertApproval(Conn& c, const model::Approval& a, int64_t now);
Status AddApprovalEvent(Conn& c, const std::string& approval_id, int64_t at,
                        const std::string& event, const std::string& who,
                        const std::string& detail_json);

// A `finish` for an Op whose apply fills `*out`.
template <typename T>
std::function<void(Status)> Deliver(std::shared_ptr<T> out, Callback<T> done) {
  return [out = std::move(out), done = std::move(done)](Status st) {
    if (!st) return done(st.error());
    done(std::move(*out));
  };
}

}  // namespace keel::store::sqlite
