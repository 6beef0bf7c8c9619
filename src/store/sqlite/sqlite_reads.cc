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
  Result<std::vector<model::RunRecord>> out = std::vector<model::RunRecord>{};
  WithReader([&](Conn& c) {
    // Newest first by id (UUIDv7 ids sort by creation time); empty filters match all.
    auto st = c.Prepare("SELECT " KEEL_RUN_COLUMNS
                        " FROM runs WHERE (?1 = '' OR tenant = ?1) AND (?2 = '' OR intent = ?2) "
                        "AND (?3 = '' OR status = ?3) AND (?4 = '' OR id < ?4) "
                        "ORDER BY id DESC LIMIT ?5");
    if (!st) {
      out = st.error();
      return;
    }
    (*st)->Bind(1, f.tenant).Bind(2, f.intent);
    (*st)->Bind(3, f.status ? model::StatusName(*f.status) : std::string_view());
    (*st)->Bind(4, f.before_id).Bind(5, static_cast<int64_t>(f.limit));
    std::vector<model::RunRecord> runs;
    for (;;) {
      auto row = (*st)->Step();
      if (!row) {
        out = row.error();
        return;
      }
      if (!*row) break;
      runs.push_back(ReadRun(**st));
    }
    out = std::move(runs);
  });
  return out;
}

Result<std::vector<model::JournalEntry>> SqliteStore::ReadJournal(const std::string& run_id,
                                                                  int64_t after_seq, int limit) {
  Result<std::vector<model::JournalEntry>> out = std::vector<model::JournalEntry>{};
  WithReader([&](Conn& c) {
    auto st = c.Prepare("SELECT " KEEL_JOURNAL_COLUMNS
                        " FROM journal WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?");
    if (!st) {
      out = st.error();
      return;
    }
    (*st)->Bind(1, run_id).Bind(2, after_seq).Bind(3, static_cast<int64_t>(limit));
    std::vector<model::JournalEntry> entries;
    for (;;) {
      auto row = (*st)->Step();
      if (!row) {
        out = row.error();
        return;
      }
      if (!*row) break;
      entries.push_back(ReadEntry(**st));
    }
    out = std::move(entries);
  });
  return out;
}

Result<std::vector<std::pair<std::string, int64_t>>> SqliteStore::WaitingTimers() {
  Result<std::vector<std::pair<std::string, int64_t>>> out =
      std::vector<std::pair<std::string, int64_t>>{};
  WithReader([&](Conn& c) {
    // A parked run wakes at its timer or its deadline, whichever is first.
    auto st = c.Prepare(
        "SELECT id, CASE WHEN wake_at > 0 AND (deadline_at = 0 OR wake_at < deadline_at) "
        "THEN wake_at ELSE deadline_at END FROM runs "
        "WHERE status = 'waiting' AND (wake_at > 0 OR deadline_at > 0)");
    if (!st) {
      out = st.error();
      return;
    }
    std::vector<std::pair<std::string, int64_t>> timers;
    for (;;) {
      auto row = (*st)->Step();
      if (!row) {
        out = row.error();
        return;
      }
      if (!*row) break;
      timers.emplace_back((*st)->Text(0), (*st)->Int(1));
    }
    out = std::move(timers);
  });
  return out;
}

Result<std::string> SqliteStore::GetWorkflow(const std::string& code_hash) {
  Result<std::string> out = Error{Errc::kInternal, "unset"};
  WithReader([&](Conn& c) {
    auto st = c.Prepare("SELECT source FROM workflows WHERE code_hash = ?");
    if (!st) {
      out = st.error();
      return;
    }
    (*st)->Bind(1, code_hash);
    auto row = (*st)->Step();
    if (!row) {
      out = row.error();
    } else if (!*row) {
      out = Error{Errc::kNotFound, "workflow code " + code_hash + " not found"};
    } else {
      out = (*st)->Text(0);
      (*st)->Reset();
    }
  });
  return out;
}

Result<std::vector<std::tuple<std::string, std::string, int64_t>>> SqliteStore::CountRuns() {
  Result<std::vector<std::tuple<std::string, std::string, int64_t>>> out =
      std::vector<std::tuple<std::string, std::string, int64_t>>{};
  WithReader([&](Conn& c) {
    // Only non-terminal runs: served by the partial index runs_active.
    auto st = c.Prepare(
        "SELECT intent, status, count(*) FROM runs WHERE status IN ('queued', 'running', "
        "'waiting') GROUP BY intent, status");
    if (!st) {
      out = st.error();
      return;
    }
    std::vector<std::tuple<std::string, std::string, int64_t>> rows;
    for (;;) {
      auto row = (*st)->Step();
      if (!row) {
        out = row.error();
        return;
      }
      if (!*row) break;
      rows.emplace_back((*st)->Text(0), (*st)->Text(1), (*st)->Int(2));
    }
    out = std::move(rows);
  });
  return out;
}

Result<std::string> SqliteStore::IntegrityCheck() {
  Result<std::string> out = Error{Errc::kInternal, "unset"};
  WithReader([&](Conn& c) {
    auto st = c.Prepare("PRAGMA integrity_check");
    if (!st) {
      out = st.error();
      return;
    }
    std::string text;
    for (;;) {
      auto row = (*st)->Step();
      if (!row) {
        out = row.error();
        return;
      }
      if (!*row) break;
      if (!text.empty()) text += "\n";
      text += (*st)->Text(0);
    }
    out = text;
  });
  return out;
}

}  // namespace keel::store::sqlite
