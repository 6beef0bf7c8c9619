// The read operations of SqliteStore for the outbox, approvals and child runs.

#include "store/sqlite/rows.h"
#include "store/sqlite/sqlite_store.h"

namespace keel::store::sqlite {

namespace {

Status CheckStatusFilter(const std::string& status, std::initializer_list<const char*> allowed,
                         const std::string& what) {
  if (status.empty()) return OkStatus();
  std::string list;
  for (const char* a : allowed) {
    if (status == a) return OkStatus();
    list += list.empty() ? a : std::string(", ") + a;
  }
  return Error{Errc::kInvalidArgument,
               what + " status must be one of " + list + ", got \"" + status + "\""};
}

}  // namespace

Result<std::vector<model::OutboxIntent>> SqliteStore::DueOutbox(int64_t now_ms, int limit) {
  Result<std::vector<model::OutboxIntent>> out = Error{Errc::kInternal, "unset"};
  WithReader([&](Conn& c) {
    out = Collect<model::OutboxIntent>(
        c,
        "SELECT " KEEL_OUTBOX_COLUMNS
        " FROM outbox WHERE status = 'pending' AND next_attempt_at <= ? "
        "ORDER BY next_attempt_at, created_at, key LIMIT ?",
        [&](Stmt& s) { s.Bind(1, now_ms).Bind(2, ClampLimit(limit)); }, ReadOutbox);
  });
  return out;
}

Result<int64_t> SqliteStore::NextOutboxAttempt() {
  Result<std::vector<int64_t>> rows = Error{Errc::kInternal, "unset"};
  WithReader([&](Conn& c) {
    rows = Collect<int64_t>(
        c, "SELECT min(next_attempt_at) FROM outbox WHERE status = 'pending'", [](Stmt&) {},
        [](const Stmt& s) { return s.IsNull(0) ? int64_t{0} : std::max<int64_t>(1, s.Int(0)); });
  });
  if (!rows) return rows.error();
  return rows->empty() ? 0 : rows->front();
}

Result<model::OutboxIntent> SqliteStore::GetOutbox(const std::string& key) {
  Result<model::OutboxIntent> out = Error{Errc::kInternal, "unset"};
  WithReader([&](Conn& c) { out = LoadOutbox(c, key); });
  return out;
}

Result<std::vector<model::OutboxIntent>> SqliteStore::ListOutbox(const OutboxFilter& f) {
  if (Status st = CheckStatusFilter(f.status, {"pending", "delivered", "failed"}, "outbox"); !st) {
    return st.error();
  }
  Result<std::vector<model::OutboxIntent>> out = Error{Errc::kInternal, "unset"};
  WithReader([&](Conn& c) {
    out = Collect<model::OutboxIntent>(
        c,
        "SELECT " KEEL_OUTBOX_COLUMNS
        " FROM outbox WHERE (?1 = '' OR status = ?1) AND (?2 = '' OR run_id = ?2) "
        "AND (?3 = '' OR tenant = ?3) AND key > ?4 ORDER BY key LIMIT ?5",
        [&](Stmt& s) {
          s.Bind(1, f.status).Bind(2, f.run_id).Bind(3, f.tenant).Bind(4, f.after_key);
          s.Bind(5, ClampLimit(f.limit));
        },
        ReadOutbox);
  });
  return out;
}

Result<model::Approval> SqliteStore::GetApproval(const std::string& id) {
  Result<model::Approval> out = Error{Errc::kInternal, "unset"};
  WithReader([&](Conn& c) { out = LoadApproval(c, id); });
  return out;
}

Result<std::vector<model::Approval>> SqliteStore::ListApprovals(const ApprovalFilter& f) {
  if (Status st =
          CheckStatusFilter(f.status, {"pending", "approved", "denied", "withdrawn"}, "approval");
      !st) {
    return st.error();
  }
  Result<std::vector<model::Approval>> out = Error{Errc::kInternal, "unset"};
  WithReader([&](Conn& c) {
    // Newest first, like runs.
    out = Collect<model::Approval>(
        c,
        "SELECT " KEEL_APPROVAL_COLUMNS
        " FROM approvals WHERE (?1 = '' OR status = ?1) AND (?2 = '' OR tenant = ?2) "
        "AND (?3 = '' OR run_id = ?3) AND (?4 = '' OR id < ?4) ORDER BY id DESC LIMIT ?5",
        [&](Stmt& s) {
          s.Bind(1, f.status).Bind(2, f.tenant).Bind(3, f.run_id).Bind(4, f.before_id);
          s.Bind(5, ClampLimit(f.limit));
        },
        ReadApproval);
  });
  return out;
}

Result<std::vector<model::ApprovalEvent>> SqliteStore::ApprovalAudit(const std::string& id) {
  Result<std::vector<model::ApprovalEvent>> out = Error{Errc::kInternal, "unset"};
  WithReader([&](Conn& c) {
    if (auto a = LoadApproval(c, id); !a) {
      out = a.error();
      return;
    }
    out = Collect<model::ApprovalEvent>(
        c,
        "SELECT " KEEL_APPROVAL_EVENT_COLUMNS
        " FROM approval_events WHERE approval_id = ? ORDER BY id",
        [&](Stmt& s) { s.Bind(1, id); }, ReadApprovalEvent);
  });
  return out;
}

Result<std::vector<std::pair<std::string, int64_t>>> SqliteStore::ApprovalDeadlines() {
  Result<std::vector<std::pair<std::string, int64_t>>> out = Error{Errc::kInternal, "unset"};
  WithReader([&](Conn& c) {
    out = Collect<std::pair<std::string, int64_t>>(
        c,
        "SELECT id, deadline_at FROM approvals WHERE status = 'pending' AND deadline_at > 0 "
        "ORDER BY deadline_at, id",
        [](Stmt&) {}, [](const Stmt& s) { return std::make_pair(s.Text(0), s.Int(1)); });
  });
  return out;
}

Result<std::vector<model::RunRecord>> SqliteStore::ListChildren(const std::string& parent_id) {
  Result<std::vector<model::RunRecord>> out = Error{Errc::kInternal, "unset"};
  WithReader([&](Conn& c) {
    // `parent_run_id != ''` lets SQLite use the partial index runs_children.
    out = Collect<model::RunRecord>(
        c,
        "SELECT " KEEL_RUN_COLUMNS
        " FROM runs WHERE parent_run_id = ? AND parent_run_id != '' ORDER BY created_at, id",
        [&](Stmt& s) { s.Bind(1, parent_id); }, ReadRun);
  });
  return out;
}

}  // namespace keel::store::sqlite
