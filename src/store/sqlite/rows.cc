#include "store/sqlite/rows.h"

namespace keel::store::sqlite {

namespace {

template <typename T, typename Read>
Result<T> LoadOne(Conn& c, const char* sql, const std::string& key, Read read,
                  const std::string& what) {
  auto st = c.Prepare(sql);
  if (!st) return st.error();
  (*st)->Bind(1, key);
  auto row = (*st)->Step();
  if (!row) return row.error();
  if (!*row) return Error{Errc::kNotFound, what + " " + key + " not found"};
  T out = read(**st);
  (*st)->Reset();
  return out;
}

}  // namespace

Result<model::RunRecord> LoadRun(Conn& c, const std::string& run_id) {
  return LoadOne<model::RunRecord>(c, "SELECT " KEEL_RUN_COLUMNS " FROM runs WHERE id = ?", run_id,
                                   ReadRun, "run");
}

Result<model::OutboxIntent> LoadOutbox(Conn& c, const std::string& key) {
  return LoadOne<model::OutboxIntent>(c, "SELECT " KEEL_OUTBOX_COLUMNS " FROM outbox WHERE key = ?",
                                      key, ReadOutbox, "outbox intent");
}

Result<model::Approval> LoadApproval(Conn& c, const std::string& id) {
  return LoadOne<model::Approval>(c, "SELECT " KEEL_APPROVAL_COLUMNS " FROM approvals WHERE id = ?",
                                  id, ReadApproval, "approval");
}

}  // namespace keel::store::sqlite
