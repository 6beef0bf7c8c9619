#include "store/sqlite/write_steps.h"

#include <chrono>
#include <vector>

#include <boost/json.hpp>

#include "model/json.h"
#include "store/sqlite/rows.h"

namespace keel::store::sqlite {

namespace {

bool IsJsonArray(const std::string& text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  return !ec && v.is_array();
}

bool IsJson(const std::string& text) {
  boost::system::error_code ec;
  (void)boost::json::parse(text, ec);
  return !ec;
}

Status ValidateOutbox(const model::OutboxIntent& o) {
  if (o.key.empty()) return Error{Errc::kInvalidArgument, "outbox intent: key is empty"};
  std::string what = "outbox intent " + o.key + ": ";
  if (o.kind != "tool" && o.kind != "notify") {
    return Error{Errc::kInvalidArgument,
                 what + "kind must be tool or notify, got \"" + o.kind + "\""};
  }
  if (o.target.empty()) return Error{Errc::kInvalidArgument, what + "target is empty"};
  if (o.status != "pending" && o.status != "delivered" && o.status != "failed") {
    return Error{Errc::kInvalidArgument,
                 what + "status must be pending, delivered or failed, got \"" + o.status + "\""};
  }
  if (o.max_attempts < 1) {
    return Error{Errc::kInvalidArgument, what + "max_attempts must be at least 1"};
  }
  if (!IsJson(o.args_json)) return Error{Errc::kInvalidArgument, what + "args is not JSON"};
  return OkStatus();
}

Status ValidateApproval(const model::Approval& a) {
  if (a.id.empty()) return Error{Errc::kInvalidArgument, "approval: id is empty"};
  std::string what = "approval " + a.id + ": ";
  if (a.run_id.empty()) return Error{Errc::kInvalidArgument, what + "run_id is empty"};
  if (a.on_timeout != "approve" && a.on_timeout != "deny" && a.on_timeout != "escalate") {
    return Error{
        Errc::kInvalidArgument,
        what + "on_timeout must be approve, deny or escalate, got \"" + a.on_timeout + "\""};
  }
  if (a.status != "pending" && a.status != "approved" && a.status != "denied") {
    return Error{Errc::kInvalidArgument,
                 what + "status must be pending, approved or denied, got \"" + a.status + "\""};
  }
  if (!IsJsonArray(a.approvers_json)) {
    return Error{Errc::kInvalidArgument, what + "approvers must be a JSON array"};
  }
  if (!IsJsonArray(a.escalate_to_json)) {
    return Error{Errc::kInvalidArgument, what + "escalate_to must be a JSON array"};
  }
  if (!IsJson(a.payload_json)) return Error{Errc::kInvalidArgument, what + "payload is not JSON"};
  if (a.timeout_ms < 0 || a.max_escalations < 0 || a.escalation_level < 0) {
    return Error{Errc::kInvalidArgument,
                 what + "timeout_ms, max_escalations and escalation_level must not be negative"};
  }
  return OkStatus();
}

}  // namespace

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

Status CheckLease(Conn& c, const std::string& run_id, const std::string& owner, int64_t epoch) {
  auto st = c.Prepare("SELECT status, lease_owner, lease_epoch FROM runs WHERE id = ?");
  if (!st) return st.error();
  (*st)->Bind(1, run_id);
  auto row = (*st)->Step();
  if (!row) return row.error();
  if (!*row) return Error{Errc::kNotFound, "run " + run_id + " not found"};
  auto status = model::ParseStatus((*st)->Text(0));
  std::string cur_owner = (*st)->Text(1);
  int64_t cur_epoch = (*st)->Int(2);
  (*st)->Reset();
  if (!status || model::IsTerminal(*status)) {
    return Error{Errc::kAlreadyFinished, "run " + run_id + " has already finished"};
  }
  if (cur_owner != owner || cur_epoch != epoch) {
    return Error{Errc::kFenced, "run " + run_id + ": lease epoch " + std::to_string(epoch) +
                                    " of " + owner + " is stale (now " + std::to_string(cur_epoch) +
                                    " of " + cur_owner + ")"};
  }
  return OkStatus();
}

Status InsertEntry(Conn& c, const model::JournalEntry& e, int64_t now) {
  // Journals are contiguous: entry n is accepted only after entry n-1 (docs/journal_format.md).
  if (e.seq > 1) {
    auto prev = c.Prepare("SELECT 1 FROM journal WHERE run_id = ? AND seq = ?");
    if (!prev) return prev.error();
    (*prev)->Bind(1, e.run_id).Bind(2, e.seq - 1);
    auto row = (*prev)->Step();
    if (!row) return row.error();
    (*prev)->Reset();
    if (!*row) {
      return Error{Errc::kFenced, "run " + e.run_id + ": journal entry " + std::to_string(e.seq) +
                                      " would leave a gap after a failed write"};
    }
  } else if (e.seq < 1) {
    return Error{Errc::kInternal, "journal seq must start at 1"};
  }
  auto st = c.Prepare("INSERT INTO journal (" KEEL_JOURNAL_COLUMNS ") VALUES (?,?,?,?,?,?,?,?,?)");
  if (!st) return st.error();
  (*st)->Bind(1, e.run_id).Bind(2, e.seq).Bind(3, model::EntryKindName(e.kind)).Bind(4, e.name);
  (*st)
      ->Bind(5, e.request_hash)
      .Bind(6, e.result_json)
      .Bind(7, e.created_at_ms ? e.created_at_ms : now)
      .Bind(8, e.request_json)
      .Bind(9, e.branch);
  Status s = (*st)->Exec();
  if (!s && s.error().code == Errc::kConflict) {
    return Error{Errc::kFenced, "run " + e.run_id + ": journal entry " + std::to_string(e.seq) +
                                    " already exists (a stale executor?)"};
  }
  return s;
}

Status WriteUsage(Conn& c, const std::string& run_id, const UsageUpdate& u) {
  auto st = c.Prepare(
      "UPDATE runs SET steps_used = ?, tools_used = ?, tokens_used = ?, cost_usd = ? "
      "WHERE id = ?");
  if (!st) return st.error();
  (*st)->Bind(1, u.steps_used).Bind(2, u.tools_used).Bind(3, u.tokens_used);
  (*st)->BindDouble(4, u.cost_usd).Bind(5, run_id);
  return (*st)->Exec();
}

Status InsertBlob(Conn& c, const Blob& b, int64_t now) {
  auto st = c.Prepare("INSERT OR IGNORE INTO blobs (key, data, created_at) VALUES (?,?,?)");
  if (!st) return st.error();
  (*st)->Bind(1, b.key).Bind(2, b.data).Bind(3, now);
  return (*st)->Exec();
}

Status ApplyTransition(Conn& c, const std::string& run_id, const Transition& t,
                       const std::optional<UsageUpdate>& usage, int64_t now) {
  if (usage) {
    if (Status st = WriteUsage(c, run_id, *usage); !st) return st;
  }
  auto st = c.Prepare(
      "UPDATE runs SET status = ?, wait_reason = ?, wake_at = ?, result = ?, error_code = ?, "
      "error_message = ?, lease_owner = CASE WHEN ? THEN '' ELSE lease_owner END, "
      "lease_expires_at = CASE WHEN ? THEN 0 ELSE lease_expires_at END, updated_at = ? "
      "WHERE id = ?");
  if (!st) return st.error();
  (*st)->Bind(1, model::StatusName(t.status)).Bind(2, t.wait_reason).Bind(3, t.wake_at_ms);
  (*st)->Bind(4, t.result_json).Bind(5, t.error_code).Bind(6, t.error_message);
  (*st)->Bind(7, int64_t{t.release_lease}).Bind(8, int64_t{t.release_lease}).Bind(9, now);
  (*st)->Bind(10, run_id);
  if (Status s = (*st)->Exec(); !s) return s;
  if (!model::IsTerminal(t.status)) return OkStatus();
  if (Status s = CancelDescendants(c, run_id, t.status, now); !s) return s;
  return WithdrawApprovals(c, run_id, now);
}

Status WithdrawApprovals(Conn& c, const std::string& run_id, int64_t now) {
  struct Row {
    std::string id, run_id, run_status;
  };
  std::vector<Row> rows;
  {
    // The run and every run below it, which the cascade has just ended; a run that is somehow
    // still live keeps its approvals.
    auto sel = c.Prepare(
        "WITH RECURSIVE subtree(id) AS ("
        "  SELECT ?1"
        "  UNION"
        "  SELECT r.id FROM runs r JOIN subtree s ON r.parent_run_id = s.id"
        "  WHERE r.parent_run_id != '') "
        "SELECT a.id, a.run_id, r.status FROM approvals a JOIN runs r ON r.id = a.run_id "
        "WHERE a.run_id IN (SELECT id FROM subtree) AND a.status = 'pending' "
        "AND r.status NOT IN ('queued', 'running', 'waiting') ORDER BY a.id");
    if (!sel) return sel.error();
    (*sel)->Bind(1, run_id);
    for (;;) {
      auto row = (*sel)->Step();
      if (!row) return row.error();
      if (!*row) break;
      rows.push_back({(*sel)->Text(0), (*sel)->Text(1), (*sel)->Text(2)});
    }
  }
  for (const Row& r : rows) {
    std::string reason = "the run ended " + r.run_status;
    auto upd = c.Prepare(
        "UPDATE approvals SET status = 'withdrawn', decided_by = ?, reason = ?, decided_at = ?, "
        "timed_out = 0 WHERE id = ? AND status = 'pending'");
    if (!upd) return upd.error();
    (*upd)->Bind(1, kRunEndedDecider).Bind(2, reason).Bind(3, now).Bind(4, r.id);
    if (Status st = (*upd)->Exec(); !st) return st;
    boost::json::object detail{{"run_id", r.run_id}, {"run_status", r.run_status}};
    if (Status st = AddApprovalEvent(c, r.id, now, "withdrawn", kRunEndedDecider,
                                     boost::json::serialize(detail));
        !st) {
      return st;
    }
  }
  return OkStatus();
}

Status CancelDescendants(Conn& c, const std::string& parent_id, model::RunStatus parent_status,
                         int64_t now) {
  bool cancelled = parent_status == model::RunStatus::kCancelled;
  std::string code = cancelled ? "parent_cancelled" : "parent_finished";
  std::string message = cancelled ? "parent run " + parent_id + " was cancelled"
                                  : "parent run " + parent_id + " finished (" +
                                        std::string(model::StatusName(parent_status)) +
                                        ") before this child run";
  // Direct children learn how their parent ended; deeper ones that their own parent, a child
  // cancelled here, was cancelled. `parent_run_id != ''` lets SQLite use the partial index.
  auto st = c.Prepare(
      "WITH RECURSIVE subtree(id) AS ("
      "  SELECT id FROM runs WHERE parent_run_id = ?1 AND parent_run_id != ''"
      "  UNION"
      "  SELECT r.id FROM runs r JOIN subtree s ON r.parent_run_id = s.id"
      "  WHERE r.parent_run_id != '') "
      "UPDATE runs SET status = 'cancelled', "
      "error_code = CASE WHEN parent_run_id = ?1 THEN ?2 ELSE 'parent_cancelled' END, "
      "error_message = CASE WHEN parent_run_id = ?1 THEN ?3 "
      "  ELSE 'parent run ' || parent_run_id || ' was cancelled' END, "
      "wait_reason = '', wake_at = 0, lease_owner = '', lease_expires_at = 0, updated_at = ?4 "
      "WHERE id IN (SELECT id FROM subtree) AND status IN ('queued', 'running', 'waiting')");
  if (!st) return st.error();
  (*st)->Bind(1, parent_id).Bind(2, code).Bind(3, message).Bind(4, now);
  return (*st)->Exec();
}

Result<bool> InsertRun(Conn& c, const AdmitRequest& req, bool or_ignore) {
  const model::RunRecord& run = req.run;
  auto ins = c.Prepare(
      or_ignore
          ? "INSERT OR IGNORE INTO runs (id, intent, tenant, caller_user, idempotency_key, "
            "correlation_id, payload, payload_hash, budget_deadline_ms, budget_max_steps, "
            "code_hash, status, deadline_at, lease_owner, lease_epoch, lease_expires_at, "
            "created_at, updated_at, budget_max_tools, budget_max_tokens, budget_max_context, "
            "budget_max_cost_usd, parent_run_id, cancel_requested) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
          : "INSERT INTO runs (id, intent, tenant, caller_user, idempotency_key, "
            "correlation_id, payload, payload_hash, budget_deadline_ms, budget_max_steps, "
            "code_hash, status, deadline_at, lease_owner, lease_epoch, lease_expires_at, "
            "created_at, updated_at, budget_max_tools, budget_max_tokens, budget_max_context, "
            "budget_max_cost_usd, parent_run_id, cancel_requested) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  if (!ins) return ins.error();
  Stmt& s = **ins;
  s.Bind(1, run.id).Bind(2, run.intent).Bind(3, run.tenant).Bind(4, run.user);
  s.Bind(5, run.idempotency_key).Bind(6, run.correlation_id).Bind(7, run.payload_json);
  s.Bind(8, req.payload_hash).Bind(9, run.budget.deadline_ms).Bind(10, run.budget.max_steps);
  s.Bind(11, run.code_hash).Bind(12, model::StatusName(run.status)).Bind(13, run.deadline_at_ms);
  s.Bind(14, run.lease_owner).Bind(15, run.lease_epoch).Bind(16, run.lease_expires_at_ms);
  s.Bind(17, run.created_at_ms).Bind(18, run.created_at_ms);
  s.Bind(19, run.budget.max_tools).Bind(20, run.budget.max_tokens);
  s.Bind(21, run.budget.max_context).BindDouble(22, run.budget.max_cost_usd);
  s.Bind(23, run.parent_run_id).Bind(24, int64_t{run.cancel_requested});
  if (Status st = s.Exec(); !st) return st.error();
  if (c.Changes() == 0) return false;
  if (!run.idempotency_key.empty()) {
    auto key = c.Prepare(
        or_ignore ? "INSERT OR IGNORE INTO idempotency_keys (tenant, key, run_id, payload_hash, "
                    "created_at) VALUES (?,?,?,?,?)"
                  : "INSERT INTO idempotency_keys (tenant, key, run_id, payload_hash, "
                    "created_at) VALUES (?,?,?,?,?)");
    if (!key) return key.error();
    (*key)->Bind(1, run.tenant).Bind(2, run.idempotency_key).Bind(3, run.id);
    (*key)->Bind(4, req.payload_hash).Bind(5, run.created_at_ms);
    if (Status st = (*key)->Exec(); !st) return st.error();
  }
  return true;
}

Result<bool> RecordSignal(Conn& c, const model::RunRecord& run, const std::string& name,
                          const std::string& payload_json, int64_t now) {
  auto ins = c.Prepare("INSERT INTO signals (run_id, name, payload, created_at) VALUES (?,?,?,?)");
  if (!ins) return ins.error();
  (*ins)->Bind(1, run.id).Bind(2, name).Bind(3, payload_json).Bind(4, now);
  if (Status st = (*ins)->Exec(); !st) return st.error();
  if (run.status != model::RunStatus::kWaiting || run.wait_reason != "signal:" + name) return false;
  // wait_reason stays: the resumed run still knows the signal's original timeout.
  auto upd = c.Prepare(
      "UPDATE runs SET status = 'queued', updated_at = ? WHERE id = ? AND status = 'waiting'");
  if (!upd) return upd.error();
  (*upd)->Bind(1, now).Bind(2, run.id);
  if (Status st = (*upd)->Exec(); !st) return st.error();
  return true;
}

Result<bool> InsertOutbox(Conn& c, model::OutboxIntent o, int64_t now) {
  if (Status st = ValidateOutbox(o); !st) return st.error();
  if (o.created_at_ms == 0) o.created_at_ms = now;
  // 0 would read as "nothing pending" in NextOutboxAttempt: an intent due at once is due at
  // its creation.
  if (o.next_attempt_at_ms == 0) o.next_attempt_at_ms = o.created_at_ms;
  auto st = c.Prepare("INSERT OR IGNORE INTO outbox (" KEEL_OUTBOX_COLUMNS
                      ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  if (!st) return st.error();
  Stmt& s = **st;
  s.Bind(1, o.key).Bind(2, o.run_id).Bind(3, o.seq).Bind(4, o.tenant).Bind(5, o.kind);
  s.Bind(6, o.target).Bind(7, o.args_json).Bind(8, o.status).Bind(9, int64_t{o.attempts});
  s.Bind(10, int64_t{o.max_attempts}).Bind(11, o.next_attempt_at_ms).Bind(12, o.last_error);
  s.Bind(13, o.result_json).Bind(14, o.created_at_ms).Bind(15, o.created_at_ms);
  if (Status r = s.Exec(); !r) return r.error();
  return c.Changes() > 0;
}

Status InsertApproval(Conn& c, const model::Approval& in, int64_t now) {
  if (Status st = ValidateApproval(in); !st) return st;
  model::Approval a = in;
  if (a.created_at_ms == 0) a.created_at_ms = now;
  auto st = c.Prepare("INSERT OR IGNORE INTO approvals (" KEEL_APPROVAL_COLUMNS
                      ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  if (!st) return st.error();
  Stmt& s = **st;
  s.Bind(1, a.id).Bind(2, a.run_id).Bind(3, a.seq).Bind(4, a.tenant).Bind(5, a.intent);
  s.Bind(6, a.step).Bind(7, a.payload_json).Bind(8, a.approvers_json);
  s.Bind(9, a.escalate_to_json).Bind(10, a.on_timeout).Bind(11, a.timeout_ms);
  s.Bind(12, a.deadline_at_ms).Bind(13, int64_t{a.escalation_level});
  s.Bind(14, int64_t{a.max_escalations}).Bind(15, a.status).Bind(16, a.decided_by);
  s.Bind(17, a.reason).Bind(18, a.decided_at_ms).Bind(19, int64_t{a.timed_out});
  s.Bind(20, a.created_at_ms);
  if (Status r = s.Exec(); !r) return r;
  if (c.Changes() == 0) return OkStatus();  // a replayed creation: the audit trail has it
  boost::json::object detail{{"step", a.step},
                             {"approvers", model::StoredJson(a.approvers_json)},
                             {"deadline_at_ms", a.deadline_at_ms}};
  return AddApprovalEvent(c, a.id, a.created_at_ms, "created", "", boost::json::serialize(detail));
}

Status AddApprovalEvent(Conn& c, const std::string& approval_id, int64_t at,
                        const std::string& event, const std::string& who,
                        const std::string& detail_json) {
  auto st =
      c.Prepare("INSERT INTO approval_events (" KEEL_APPROVAL_EVENT_COLUMNS ") VALUES (?,?,?,?,?)");
  if (!st) return st.error();
  (*st)->Bind(1, approval_id).Bind(2, at).Bind(3, event).Bind(4, who).Bind(5, detail_json);
  return (*st)->Exec();
}

}  // namespace keel::store::sqlite
