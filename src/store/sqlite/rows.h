#pragma once

// Row mapping shared by the store's read and write paths. Private to store/sqlite.

#include <algorithm>
#include <vector>

#include "model/approval.h"
#include "model/outbox.h"
#include "model/run.h"
#include "store/sqlite/db.h"

namespace keel::store::sqlite {

#define KEEL_RUN_COLUMNS                                                                   \
  "id, intent, tenant, caller_user, idempotency_key, correlation_id, payload, "            \
  "budget_deadline_ms, budget_max_steps, code_hash, status, wait_reason, wake_at, "        \
  "deadline_at, result, error_code, error_message, steps_used, lease_owner, lease_epoch, " \
  "lease_expires_at, created_at, updated_at, budget_max_tools, budget_max_tokens, "        \
  "budget_max_context, budget_max_cost_usd, tools_used, tokens_used, cost_usd, "           \
  "parent_run_id, cancel_requested"

#define KEEL_JOURNAL_COLUMNS \
  "run_id, seq, kind, name, request_hash, result, created_at, request, branch"

#define KEEL_OUTBOX_COLUMNS                                                        \
  "key, run_id, seq, tenant, kind, target, args, status, attempts, max_attempts, " \
  "next_attempt_at, last_error, result, created_at, updated_at"

#define KEEL_APPROVAL_COLUMNS                                                                \
  "id, run_id, seq, tenant, intent, step, payload, approvers, escalate_to, on_timeout, "     \
  "timeout_ms, deadline_at, escalation_level, max_escalations, status, decided_by, reason, " \
  "decided_at, timed_out, created_at"

#define KEEL_APPROVAL_EVENT_COLUMNS "approval_id, at, event, who, detail"

// The most rows one listing returns.
inline constexpr int kMaxListLimit = 500;
inline int64_t ClampLimit(int limit) {
  return static_cast<int64_t>(std::clamp(limit, 1, kMaxListLimit));
}

inline model::RunRecord ReadRun(const Stmt& s) {
  model::RunRecord r;
  r.id = s.Text(0);
  r.intent = s.Text(1);
  r.tenant = s.Text(2);
  r.user = s.Text(3);
  r.idempotency_key = s.Text(4);
  r.correlation_id = s.Text(5);
  r.payload_json = s.Text(6);
  r.budget.deadline_ms = s.Int(7);
  r.budget.max_steps = s.Int(8);
  r.code_hash = s.Text(9);
  r.status = model::ParseStatus(s.Text(10)).value_or(model::RunStatus::kFailed);
  r.wait_reason = s.Text(11);
  r.wake_at_ms = s.Int(12);
  r.deadline_at_ms = s.Int(13);
  r.result_json = s.Text(14);
  r.error_code = s.Text(15);
  r.error_message = s.Text(16);
  r.steps_used = s.Int(17);
  r.lease_owner = s.Text(18);
  r.lease_epoch = s.Int(19);
  r.lease_expires_at_ms = s.Int(20);
  r.created_at_ms = s.Int(21);
  r.updated_at_ms = s.Int(22);
  r.budget.max_tools = s.Int(23);
  r.budget.max_tokens = s.Int(24);
  r.budget.max_context = s.Int(25);
  r.budget.max_cost_usd = s.Double(26);
  r.tools_used = s.Int(27);
  r.tokens_used = s.Int(28);
  r.cost_usd = s.Double(29);
  r.parent_run_id = s.Text(30);
  r.cancel_requested = s.Int(31) != 0;
  return r;
}

inline model::JournalEntry ReadEntry(const Stmt& s) {
  model::JournalEntry e;
  e.run_id = s.Text(0);
  e.seq = s.Int(1);
  e.kind = model::ParseEntryKind(s.Text(2)).value_or(model::EntryKind::kStep);
  e.name = s.Text(3);
  e.request_hash = s.Text(4);
  e.result_json = s.Text(5);
  e.created_at_ms = s.Int(6);
  e.request_json = s.Text(7);
  e.branch = s.Text(8);
  return e;
}

inline model::OutboxIntent ReadOutbox(const Stmt& s) {
  model::OutboxIntent o;
  o.key = s.Text(0);
  o.run_id = s.Text(1);
  o.seq = s.Int(2);
  o.tenant = s.Text(3);
  o.kind = s.Text(4);
  o.target = s.Text(5);
  o.args_json = s.Text(6);
  o.status = s.Text(7);
  o.attempts = static_cast<int>(s.Int(8));
  o.max_attempts = static_cast<int>(s.Int(9));
  o.next_attempt_at_ms = s.Int(10);
  o.last_error = s.Text(11);
  o.result_json = s.Text(12);
  o.created_at_ms = s.Int(13);
  o.updated_at_ms = s.Int(14);
  return o;
}

inline model::Approval ReadApproval(const Stmt& s) {
  model::Approval a;
  a.id = s.Text(0);
  a.run_id = s.Text(1);
  a.seq = s.Int(2);
  a.tenant = s.Text(3);
  a.intent = s.Text(4);
  a.step = s.Text(5);
  a.payload_json = s.Text(6);
  a.approvers_json = s.Text(7);
  a.escalate_to_json = s.Text(8);
  a.on_timeout = s.Text(9);
  a.timeout_ms = s.Int(10);
  a.deadline_at_ms = s.Int(11);
  a.escalation_level = static_cast<int>(s.Int(12));
  a.max_escalations = static_cast<int>(s.Int(13));
  a.status = s.Text(14);
  a.decided_by = s.Text(15);
  a.reason = s.Text(16);
  a.decided_at_ms = s.Int(17);
  a.timed_out = s.Int(18) != 0;
  a.created_at_ms = s.Int(19);
  return a;
}

inline model::ApprovalEvent ReadApprovalEvent(const Stmt& s) {
  model::ApprovalEvent e;
  e.approval_id = s.Text(0);
  e.at_ms = s.Int(1);
  e.event = s.Text(2);
  e.who = s.Text(3);
  e.detail_json = s.Text(4);
  return e;
}

// Prepares `sql`, lets `bind` bind it, and collects `read(stmt)` for every row.
template <typename T, typename Bind, typename Read>
Result<std::vector<T>> Collect(Conn& c, const char* sql, Bind bind, Read read) {
  auto st = c.Prepare(sql);
  if (!st) return st.error();
  bind(**st);
  std::vector<T> rows;
  for (;;) {
    auto row = (*st)->Step();
    if (!row) return row.error();
    if (!*row) return rows;
    rows.push_back(read(**st));
  }
}

// Load one row by key on `c`; kNotFound if absent.
Result<model::RunRecord> LoadRun(Conn& c, const std::string& run_id);
Result<model::OutboxIntent> LoadOutbox(Conn& c, const std::string& key);
Result<model::Approval> LoadApproval(Conn& c, const std::string& id);

}  // namespace keel::store::sqlite
