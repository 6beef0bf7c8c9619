#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/result.h"

namespace keel::store::sqlite {

// Maps an SQLite result code to our error codes with a message a person can act on.
Error SqliteError(int rc, std::string_view what, sqlite3* db = nullptr);

// A prepared statement, reset and cleared on every Reset(). Not thread-safe: belongs to the
// connection (and so the thread) that prepared it.
class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* s) : db_(db), s_(s) {}
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Reset();
  Stmt& Bind(int i, std::string_view v);
  Stmt& Bind(int i, int64_t v);
  Stmt& BindDouble(int i, double v);
  Stmt& BindNull(int i);
  // SQLITE_ROW → true, SQLITE_DONE → false, anything else → error.
  Result<bool> Step();
  // Steps until done; the statement must not return rows.
  Status Exec();

  int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  double Double(int col) const { return sqlite3_column_double(s_, col); }
  std::string Text(int col) const;
  bool IsNull(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_;
};

// One SQLite connection with a cache of prepared statements keyed by their SQL text's
// address (callers pass string literals). Not thread-safe.
class Conn {
 public:
  static Result<std::unique_ptr<Conn>> Open(const std::string& path, bool read_only);
  ~Conn();

  // Runs one or more statements that return no rows (pragmas, DDL, BEGIN/COMMIT).
  Status ExecScript(const std::string& sql);
  // A cached prepared statement, already reset.
  Result<Stmt*> Prepare(const char* sql);
  sqlite3* raw() { return db_; }
  int64_t Changes() { return sqlite3_changes64(db_); }

 private:
  explicit Conn(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::unordered_map<const char*, std::unique_ptr<Stmt>> cache_;
};

}  // namespace keel::store::sqlite
