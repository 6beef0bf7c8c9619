#pragma once

// Row mapping shared by the store's read and write paths. Private to store/sqlite.

#include "model/run.h"
#include "store/sqlite/db.h"

namespace keel::store::sqlite {

#define KEEL_RUN_COLUMNS                                                                   \
  "id, intent, tenant, caller_user, idempotency_key, correlation_id, payload, "            \
  "budget_deadline_ms, budget_max_steps, code_hash, status, wait_reason, wake_at, "        \
  "deadline_at, result, error_code, error_message, steps_used, lease_owner, lease_epoch, " \
  "lease_expires_at, created_at, updated_at, budget_max_tools, budget_max_tokens, "        \
  "budget_max_context, budget_max_cost_usd, tools_used, tokens_used, cost_usd"

#define KEEL_JOURNAL_COLUMNS "run_id, seq, kind, name, request_hash, result, created_at, request"

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
  return e;
}

// Loads one run by id on `c`; kNotFound if absent.
Result<model::RunRecord> LoadRun(Conn& c, const std::string& run_id);

}  // namespace keel::store::sqlite
