// The read operations of SqliteStore, served from the pool of read-only connections.

#include "store/sqlite/rows.h"
#include "store/sqlite/sqlite_store.h"

namespace keel::store::sqlite {

Result<model::RunRecord> SqliteStore::GetRun(const std::string& run_id) {
  Result<model::RunRecord> out = Error{Errc::kInternal, "unset"};
  WithReader([&](Conn& c) { out = LoadRun(c, run_id); });
  return out;
}

Result<std::vector<model::RunRecord>> SqliteStore::ListRuns(const RunFilter& f) {
  Result<std::vector<model::RunRecord>> out = Error{Errc::kInternal, "unset"};
  WithReader([&](Conn& c) {
    // Newest first by id (UUIDv7 ids sort by creation time); empty filters match all.
    out = Collect<model::RunRecord>(
        c,
        "SELECT " KEEL_RUN_COLUMNS
        " FROM runs WHERE (?1 = '' OR tenant = ?1) AND (?2 = '' OR intent = ?2) "
        "AND (?3 = '' OR status = ?3) AND (?4 = '' OR id < ?4) ORDER BY id DESC LIMIT ?5",
        [&](Stmt& s) {
          s.Bind(1, f.tenant).Bind(2, f.intent);
          s.Bind(3, f.status ? model::StatusName(*f.status) : std::string_view());
          s.Bind(4, f.before_id).Bind(5, static_cast<int64_t>(f.limit));
        },
        ReadRun);
  });
  return out;
}

Result<std::vector<model::JournalEntry>> SqliteStore::ReadJournal(const std::string& run_id,
                                                                  int64_t after_seq, int limit) {
  Result<std::vector<model::JournalEntry>> out = Error{Errc::kInternal, "unset"};
  WithReader([&](Conn& c) {
    out = Collect<model::JournalEntry>(
        c,
        "SELECT " KEEL_JOURNAL_COLUMNS
        " FROM journal WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        [&](Stmt& s) { s.Bind(1, run_id).Bind(2, after_seq).Bind(3, static_cast<int64_t>(limit)); },
        ReadEntry);
  });
  return out;
}

Result<std::vector<std::pair<std::string, int64_t>>> SqliteStore::WaitingTimers() {
  Result<std::vector<std::pair<std::string, int64_t>>> out = Error{Errc::kInternal, "unset"};
  WithReader([&](Conn& c) {
    // A parked run wakes at its timer or its deadline, whichever is first.
    out = Collect<std::pair<std::string, int64_t>>(
        c,
        "SELECT id, CASE WHEN wake_at > 0 AND (deadline_at = 0 OR wake_at < deadline_at) "
        "THEN wake_at ELSE deadline_at END FROM runs "
        "WHERE status = 'waiting' AND (wake_at > 0 OR deadline_at > 0)",
        [](Stmt&) {}, [](const Stmt& s) { return std::make_pair(s.Text(0), s.Int(1)); });
  });
  return out;
}

Result<std::string> SqliteStore::GetWorkflow(const std::string& code_hash) {
  Result<std::vector<std::string>> rows = Error{Errc::kInternal, "unset"};
  WithReader([&](Conn& c) {
    rows = Collect<std::string>(
        c, "SELECT source FROM workflows WHERE code_hash = ?",
        [&](Stmt& s) { s.Bind(1, code_hash); }, [](const Stmt& s) { return s.Text(0); });
  });
  if (!rows) return rows.error();
  if (rows->empty()) return Error{Errc::kNotFound, "workflow code " + code_hash + " not found"};
  return std::move(rows->front());
}

Result<std::string> SqliteStore::GetBlob(const std::string& key) {
  Result<std::vector<std::string>> rows = Error{Errc::kInternal, "unset"};
  WithReader([&](Conn& c) {
    rows = Collect<std::string>(
        c, "SELECT data FROM blobs WHERE key = ?", [&](Stmt& s) { s.Bind(1, key); },
        [](const Stmt& s) { return s.Text(0); });
  });
  if (!rows) return rows.error();
  if (rows->empty()) return Error{Errc::kNotFound, "blob " + key + " not found"};
  return std::move(rows->front());
}

Result<std::vector<std::tuple<std::string, std::string, int64_t>>> SqliteStore::CountRuns() {
  Result<std::vector<std::tuple<std::string, std::string, int64_t>>> out =
      Error{Errc::kInternal, "unset"};
  WithReader([&](Conn& c) {
    // Only non-terminal runs: served by the partial index runs_active.
    out = Collect<std::tuple<std::string, std::string, int64_t>>(
        c,
        "SELECT intent, status, count(*) FROM runs WHERE status IN ('queued', 'running', "
        "'waiting') GROUP BY intent, status",
        [](Stmt&) {},
        [](const Stmt& s) { return std::make_tuple(s.Text(0), s.Text(1), s.Int(2)); });
  });
  return out;
}

Result<std::string> SqliteStore::IntegrityCheck() {
  Result<std::vector<std::string>> rows = Error{Errc::kInternal, "unset"};
  WithReader([&](Conn& c) {
    rows = Collect<std::string>(
        c, "PRAGMA integrity_check", [](Stmt&) {}, [](const Stmt& s) { return s.Text(0); });
  });
  if (!rows) return rows.error();
  std::string text;
  for (const auto& line : *rows) text += (text.empty() ? "" : "\n") + line;
  return text;
}

}  // namespace keel::store::sqlite
