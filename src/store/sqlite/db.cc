#include "store/sqlite/db.h"

namespace keel::store::sqlite {

Error SqliteError(int rc, std::string_view what, sqlite3* db) {
  std::string detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string msg = std::string(what) + ": " + detail;
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return {Errc::kStorageFull, msg + " (the disk or the database size limit is full)"};
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return {Errc::kStorage, msg + " (database locked by another connection)"};
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return {Errc::kStorage, msg + " (the database file is corrupt or not a Keel database)"};
    case SQLITE_CONSTRAINT:
      return {Errc::kConflict, msg};
    default:
      return {Errc::kStorage, msg};
  }
}

Stmt& Stmt::Reset() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
  return *this;
}

Stmt& Stmt::Bind(int i, std::string_view v) {
  // A default string_view has a null data pointer, which SQLite would bind as NULL.
  sqlite3_bind_text(s_, i, v.data() ? v.data() : "", static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

Stmt& Stmt::Bind(int i, int64_t v) {
  sqlite3_bind_int64(s_, i, v);
  return *this;
}

Stmt& Stmt::BindDouble(int i, double v) {
  sqlite3_bind_double(s_, i, v);
  return *this;
}

Stmt& Stmt::BindNull(int i) {
  sqlite3_bind_null(s_, i);
  return *this;
}

Result<bool> Stmt::Step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Error e = SqliteError(rc, "sqlite step", db_);
  sqlite3_reset(s_);
  return e;
}

Status Stmt::Exec() {
  for (;;) {
    auto r = Step();
    if (!r) return r.error();
    if (!*r) return OkStatus();
  }
}

std::string Stmt::Text(int col) const {
  const unsigned char* p = sqlite3_column_text(s_, col);
  if (!p) return {};
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<size_t>(sqlite3_column_bytes(s_, col)));
}

Result<std::unique_ptr<Conn>> Conn::Open(const std::string& path, bool read_only) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  if (!read_only) flags |= SQLITE_OPEN_CREATE;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    Error e = SqliteError(rc, "cannot open " + path, db);
    sqlite3_close(db);
    return e;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, 5000);
  return std::unique_ptr<Conn>(new Conn(db));
}

Conn::~Conn() {
  cache_.clear();
  sqlite3_close(db_);
}

Status Conn::ExecScript(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return OkStatus();
  sqlite3_free(err);  // the same text as sqlite3_errmsg(db_), which SqliteError adds
  return SqliteError(rc, "sqlite", db_);
}

Result<Stmt*> Conn::Prepare(const char* sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return &it->second->Reset();
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK) return SqliteError(rc, "prepare", db_);
  auto stmt = std::make_unique<Stmt>(db_, s);
  Stmt* raw = stmt.get();
  cache_.emplace(sql, std::move(stmt));
  return raw;
}

}  // namespace keel::store::sqlite
