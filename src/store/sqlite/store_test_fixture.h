#pragma once

// The fixture of the SQLite store tests: a fresh database file in a temporary directory.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include "observability/metrics.h"
#include "store/sqlite/sqlite_store.h"

namespace keel::store::sqlite {

using model::EntryKind;
using model::RunStatus;

// Waits for an async store callback.
template <typename T>
struct Waiter {
  std::promise<Result<T>> p;
  Callback<T> cb() {
    return [this](Result<T> r) { p.set_value(std::move(r)); };
  }
  Result<T> get() { return p.get_future().get(); }
};

// Starts an async store call with a callback and waits for its result.
template <typename T, typename Start>
Result<T> Sync(Start start) {
  Waiter<T> w;
  start(w.cb());
  return w.get();
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/keel-store-XXXXXX";
    dir_ = mkdtemp(tmpl);
    store_ = Open();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::unique_ptr<SqliteStore> Open(int64_t max_pages = 0) {
    SqliteOptions o;
    o.path = dir_ + "/keel.db";
    o.max_page_count = max_pages;
    o.metrics = &metrics_;
    auto s = SqliteStore::Open(o);
    EXPECT_TRUE(s.ok()) << s.error().message;
    return s.ok() ? std::move(*s) : nullptr;
  }
  model::RunRecord NewRun(const std::string& id, const std::string& key = "") {
    model::RunRecord r;
    r.id = id;
    r.intent = "wf";
    r.tenant = "t1";
    r.idempotency_key = key;
    r.payload_json = "{}";
    r.code_hash = "abc";
    r.status = RunStatus::kRunning;
    r.lease_owner = "node-a";
    r.lease_epoch = 1;
    r.created_at_ms = 1000;
    return r;
  }
  Result<AdmitOutcome> Admit(model::RunRecord r, const std::string& payload_hash = "h1") {
    Waiter<AdmitOutcome> w;
    store_->Admit({std::move(r), payload_hash}, w.cb());
    return w.get();
  }
  Status Append(const std::string& id, int64_t epoch, std::vector<int64_t> seqs,
                std::optional<Transition> t = std::nullopt, const std::string& owner = "node-a") {
    AppendRequest req;
    req.run_id = id;
    req.lease_owner = owner;
    req.lease_epoch = epoch;
    for (int64_t s : seqs) {
      model::JournalEntry e;
      e.run_id = id;
      e.seq = s;
      e.kind = EntryKind::kStep;
      e.name = "s" + std::to_string(s);
      e.result_json = std::to_string(s);
      req.entries.push_back(e);
    }
    req.transition = t;
    Waiter<Ok> w;
    store_->Append(std::move(req), w.cb());
    auto r = w.get();
    if (!r) return r.error();
    return OkStatus();
  }

  std::string dir_;
  obs::Registry metrics_;
  std::unique_ptr<SqliteStore> store_;
};

}  // namespace keel::store::sqlite
