// The write operations of SqliteStore for the outbox and approval gates.

#include <boost/json.hpp>

#include "base/clock.h"
#include "base/failpoint.h"
#include "model/json.h"
#include "store/sqlite/rows.h"
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/write_steps.h"

namespace keel::store::sqlite {

namespace {

constexpr const char* kTimeoutDecider = "keel:timeout";

bool JsonArrayHolds(const std::string& array_json, const std::string& name) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(array_json, ec);
  if (ec || !v.is_array()) return false;
  for (const auto& item : v.as_array()) {
    if (item.is_string() && item.as_string() == name) return true;
  }
  return false;
}

bool JsonArrayEmpty(const std::string& array_json) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(array_json, ec);
  return ec || !v.is_array() || v.as_array().empty();
}

// `escalate_to` only says whom to notify: escalation widens the audience, not who may decide.
Status CheckApprover(const model::Approval& a, const std::string& who) {
  if (JsonArrayEmpty(a.approvers_json) || JsonArrayHolds(a.approvers_json, who)) {
    return OkStatus();
  }
  return Error{Errc::kInvalidArgument, "\"" + who + "\" is not among the approvers of approval " +
                                           a.id + " (" + a.approvers_json + ")"};
}

// Decides pending approval `a` in place: the row, the "decided" audit event, and the signal
// that carries the decision to the run (queuing it if it waits for it). Returns whether it
// woke the run.
Result<bool> RecordDecision(Conn& c, model::Approval& a, const std::string& decision,
                            const std::string& who, const std::string& reason, bool timed_out,
                            int64_t now) {
  a.status = decision;
  a.decided_by = who;
  a.reason = reason;
  a.decided_at_ms = now;
  a.timed_out = timed_out;
  auto upd = c.Prepare(
      "UPDATE approvals SET status = ?, decided_by = ?, reason = ?, decided_at = ?, "
      "timed_out = ? WHERE id = ? AND status = 'pending'");
  if (!upd) return upd.error();
  (*upd)->Bind(1, a.status).Bind(2, a.decided_by).Bind(3, a.reason).Bind(4, a.decided_at_ms);
  (*upd)->Bind(5, int64_t{a.timed_out}).Bind(6, a.id);
  if (Status st = (*upd)->Exec(); !st) return st.error();
  if (c.Changes() != 1) {
    return Error{Errc::kInternal, "approval " + a.id + " was not pending when decided"};
  }
  boost::json::object detail{{"decision", decision}, {"reason", reason}, {"timed_out", timed_out}};
  if (Status st = AddApprovalEvent(c, a.id, now, "decided", who, boost::json::serialize(detail));
      !st) {
    return st.error();
  }
  auto run = LoadRun(c, a.run_id);
  if (!run) {
    return Error{run.error().code,
                 "approval " + a.id + " belongs to run " + a.run_id + ": " + run.error().message};
  }
  // A run that ends withdraws its pending approvals, so this one is normally live. If it has
  // ended all the same (a row left pending by an older version), the signal stays unconsumed
  // like any late signal, and the decision is still recorded so it leaves the pending list.
  return RecordSignal(c, *run, "$approval:" + a.id,
                      boost::json::serialize(model::ApprovalDecisionJson(a)), now);
}

}  // namespace

void SqliteStore::UpdateOutbox(OutboxUpdate u, Callback<model::OutboxIntent> done) {
  auto out = std::make_shared<model::OutboxIntent>();
  auto apply = [u = std::move(u), out](Conn& c) -> Status {
    if (u.status != "pending" && u.status != "delivered" && u.status != "failed") {
      return Error{Errc::kInvalidArgument, "outbox intent " + u.key +
                                               ": status must be pending, delivered or failed, "
                                               "got \"" +
                                               u.status + "\""};
    }
    auto cur = LoadOutbox(c, u.key);
    if (!cur) return cur.error();
    if (cur->status != "pending") {
      // An outcome is final; the same outcome reported twice (two dispatchers raced) is not
      // an error, a different one is.
      if (cur->status == u.status) {
        *out = std::move(*cur);
        return OkStatus();
      }
      return Error{Errc::kConflict, "outbox intent " + u.key + " is already " + cur->status +
                                        "; cannot make it " + u.status};
    }
    int64_t now = u.now_ms ? u.now_ms : NowMs();
    int64_t next = u.next_attempt_at_ms;
    if (u.status == "pending" && next == 0) next = now;  // 0 reads as "nothing pending"
    auto upd = c.Prepare(
        "UPDATE outbox SET status = ?, attempts = ?, next_attempt_at = ?, last_error = ?, "
        "result = ?, updated_at = ? WHERE key = ?");
    if (!upd) return upd.error();
    (*upd)->Bind(1, u.status).Bind(2, int64_t{u.attempts}).Bind(3, next).Bind(4, u.last_error);
    (*upd)->Bind(5, u.result_json).Bind(6, now).Bind(7, u.key);
    if (Status st = (*upd)->Exec(); !st) return st;
    *out = std::move(*cur);
    out->status = u.status;
    out->attempts = u.attempts;
    out->next_attempt_at_ms = next;
    out->last_error = u.last_error;
    out->result_json = u.result_json;
    out->updated_at_ms = now;
    // A delivered notification about an approval joins that approval's audit trail.
    if (out->kind == "notify" && out->status == "delivered") {
      boost::json::value args = model::StoredJson(out->args_json);
      const boost::json::value* approval =
          args.is_object() ? args.as_object().if_contains("approval") : nullptr;
      const boost::json::value* id =
          approval && approval->is_object() ? approval->as_object().if_contains("id") : nullptr;
      if (id && id->is_string()) {
        const boost::json::value* event = args.as_object().if_contains("event");
        boost::json::object detail{{"key", out->key},
                                   {"target", out->target},
                                   {"event", event ? *event : boost::json::value(nullptr)},
                                   {"attempts", out->attempts}};
        if (Status st = AddApprovalEvent(c, std::string(id->as_string()), now, "notified",
                                         out->target, boost::json::serialize(detail));
            !st) {
          return st;
        }
      }
    }
    // Crash tests kill here: the outcome is written but not yet committed.
    keel::Failpoint("store.outbox_outcome_commit");
    return OkStatus();
  };
  Submit(Op{std::move(apply), Deliver(out, std::move(done))});
}

void SqliteStore::DecideApproval(ApprovalDecision d, Callback<ApprovalOutcome> done) {
  struct State {
    ApprovalOutcome out;
    std::optional<Error> refused;  // committed with its audit event, then reported
  };
  auto state = std::make_shared<State>();
  auto apply = [d = std::move(d), state](Conn& c) -> Status {
    if (d.decision != "approved" && d.decision != "denied") {
      return Error{Errc::kInvalidArgument,
                   "decision must be approved or denied, got \"" + d.decision + "\""};
    }
    auto a = LoadApproval(c, d.approval_id);
    if (!a) return a.error();
    if (!d.timed_out) {
      if (Status st = CheckApprover(*a, d.who); !st) return st;
    }
    int64_t now = d.now_ms ? d.now_ms : NowMs();
    if (a->status != "pending") {
      if (a->status == d.decision) {
        state->out.approval = std::move(*a);
        state->out.existing = true;
        return OkStatus();
      }
      boost::json::object detail{
          {"decision", d.decision}, {"reason", d.reason}, {"status", a->status}};
      if (Status st =
              AddApprovalEvent(c, a->id, now, "rejected", d.who, boost::json::serialize(detail));
          !st) {
        return st;
      }
      // A withdrawn approval no longer has anyone waiting for its decision.
      state->refused =
          a->status == "withdrawn"
              ? Error{Errc::kConflict, "approval " + a->id + " was withdrawn at " +
                                           FormatUtcMs(a->decided_at_ms) + ": " + a->reason +
                                           " (run " + a->run_id + "); it can no longer be " +
                                           d.decision}
              : Error{Errc::kConflict, "approval " + a->id + " was already " + a->status + " by " +
                                           a->decided_by + "; cannot make it " + d.decision};
      return OkStatus();
    }
    auto woke = RecordDecision(c, *a, d.decision, d.who, d.reason, d.timed_out, now);
    if (!woke) return woke.error();
    state->out.approval = std::move(*a);
    state->out.woke = *woke;
    return OkStatus();
  };
  auto finish = [state, done = std::move(done)](Status st) {
    if (!st) return done(st.error());
    if (state->refused) return done(*state->refused);
    done(std::move(state->out));
  };
  Submit(Op{std::move(apply), std::move(finish)});
}

void SqliteStore::ExpireApproval(ApprovalExpiry e, Callback<ApprovalExpiryOutcome> done) {
  auto out = std::make_shared<ApprovalExpiryOutcome>();
  auto apply = [e = std::move(e), out](Conn& c) -> Status {
    auto a = LoadApproval(c, e.approval_id);
    if (!a) return a.error();
    int64_t now = e.now_ms ? e.now_ms : NowMs();
    // Timers may fire late, twice, after a person decided or after the run ended (withdrawn):
    // only a due pending approval changes.
    if (a->status != "pending" || a->deadline_at_ms == 0 || now < a->deadline_at_ms) {
      out->approval = std::move(*a);
      return OkStatus();
    }
    if (a->on_timeout == "escalate" && a->escalation_level < a->max_escalations) {
      a->escalation_level += 1;
      a->deadline_at_ms = a->timeout_ms > 0 ? now + a->timeout_ms : 0;
      auto upd = c.Prepare(
          "UPDATE approvals SET escalation_level = ?, deadline_at = ? WHERE id = ? "
          "AND status = 'pending'");
      if (!upd) return upd.error();
      (*upd)->Bind(1, int64_t{a->escalation_level}).Bind(2, a->deadline_at_ms).Bind(3, a->id);
      if (Status st = (*upd)->Exec(); !st) return st;
      boost::json::object detail{{"level", a->escalation_level},
                                 {"deadline_at_ms", a->deadline_at_ms}};
      if (Status st = AddApprovalEvent(c, a->id, now, "escalated", kTimeoutDecider,
                                       boost::json::serialize(detail));
          !st) {
        return st;
      }
      if (!e.notify_target.empty()) {
        model::OutboxIntent n;
        n.key = a->id + ":escalated:" + std::to_string(a->escalation_level);
        n.run_id = a->run_id;
        n.seq = 0;
        n.tenant = a->tenant;
        n.kind = "notify";
        n.target = e.notify_target;
        n.args_json = boost::json::serialize(boost::json::object{
            {"event", "approval.escalated"}, {"approval", model::ApprovalToJson(*a)}});
        n.max_attempts = std::max(1, e.notify_max_attempts);
        n.next_attempt_at_ms = now;
        n.created_at_ms = now;
        if (auto r = InsertOutbox(c, n, now); !r) return r.error();
      }
      out->escalated = true;
    } else {
      std::string decision = a->on_timeout == "approve" ? "approved" : "denied";
      std::string reason =
          a->escalation_level > 0
              ? "no decision after " + std::to_string(a->escalation_level) + " escalation(s)"
              : "no decision before the deadline";
      auto woke = RecordDecision(c, *a, decision, kTimeoutDecider, reason, true, now);
      if (!woke) return woke.error();
      out->decided = true;
      out->woke = *woke;
    }
    out->approval = std::move(*a);
    // Crash tests kill here: the expiry is written but not yet committed.
    keel::Failpoint("store.approval_expire_commit");
    return OkStatus();
  };
  Submit(Op{std::move(apply), Deliver(out, std::move(done))});
}

}  // namespace keel::store::sqlite
