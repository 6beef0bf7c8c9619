#include "store/sqlite/sqlite_store.h"

#include <chrono>
#include <future>

#include "observability/log.h"
#include "store/sqlite/migrations.h"
#include "store/sqlite/rows.h"

namespace keel::store::sqlite {

namespace {
const char* SyncPragma(const std::string& mode) {
  if (mode == "normal") return "NORMAL";
  if (mode == "off") return "OFF";
  return "FULL";
}
}  // namespace

SqliteStore::SqliteStore(SqliteOptions options) : options_(std::move(options)) {
  obs::Registry& m = options_.metrics ? *options_.metrics : obs::Registry::Default();
  static const std::vector<double> kBatchBounds{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
  batch_size_ = &m.GetHistogram("keel_store_commit_batch_size",
                                "Ops per group commit (one transaction, one fsync)", kBatchBounds);
  commit_seconds_ =
      &m.GetHistogram("keel_store_commit_seconds", "Time to apply and commit (fsync) one batch",
                      obs::LatencyBuckets());
  commit_errors_ = &m.GetCounter("keel_store_commit_errors_total",
                                 "Batches whose transaction failed (disk full, I/O error)");
  queue_depth_ = &m.GetGauge("keel_store_write_queue_depth", "Writes waiting for the writer");
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(SqliteOptions options) {
  std::unique_ptr<SqliteStore> store(new SqliteStore(std::move(options)));
  if (Status st = store->Init(); !st) return st.error();
  store->writer_thread_ = std::thread([s = store.get()] { s->WriterLoop(); });
  return store;
}

Status SqliteStore::Init() {
  auto w = Conn::Open(options_.path, false);
  if (!w) return w.error();
  writer_ = std::move(*w);
  std::string pragmas = "PRAGMA journal_mode=WAL; PRAGMA synchronous=" +
                        std::string(SyncPragma(options_.synchronous)) +
                        "; PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY;";
  if (options_.max_page_count > 0) {
    pragmas += " PRAGMA max_page_count=" + std::to_string(options_.max_page_count) + ";";
  }
  if (Status st = writer_->ExecScript(pragmas); !st) {
    return Error{st.error().code, options_.path + ": " + st.error().message};
  }
  // Migrations: PRAGMA user_version holds the last applied one.
  auto ver = writer_->Prepare("PRAGMA user_version");
  if (!ver) return ver.error();
  auto row = (*ver)->Step();
  if (!row) return Error{row.error().code, options_.path + ": " + row.error().message};
  int64_t current = *row ? (*ver)->Int(0) : 0;
  (*ver)->Reset();
  int64_t latest = Migrations().empty() ? 0 : Migrations().back().version;
  if (current > latest) {
    return Error{Errc::kStorage, options_.path + " has schema version " + std::to_string(current) +
                                     ", newer than this keel binary knows (" +
                                     std::to_string(latest) + "); upgrade keel"};
  }
  for (const Migration& m : Migrations()) {
    if (m.version <= current) continue;
    std::string script = "BEGIN IMMEDIATE;\n" + m.sql +
                         "\nPRAGMA user_version=" + std::to_string(m.version) + ";\nCOMMIT;";
    if (Status st = writer_->ExecScript(script); !st) {
      (void)writer_->ExecScript("ROLLBACK");
      return Error{st.error().code, "migration " + m.name + " failed: " + st.error().message};
    }
    obs::Info("store_migrated", {{"migration", m.name}, {"path", options_.path}});
  }
  for (int i = 0; i < std::max(1, options_.read_connections); ++i) {
    auto r = Conn::Open(options_.path, true);
    if (!r) return r.error();
    if (Status st = (*r)->ExecScript("PRAGMA query_only=1;"); !st) return st.error();
    auto reader = std::make_unique<Reader>();
    reader->conn = std::move(*r);
    readers_.push_back(std::move(reader));
  }
  return OkStatus();
}

SqliteStore::~SqliteStore() {
  Drain();
  readers_.clear();
  writer_.reset();
}

void SqliteStore::Drain() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;  // the writer finishes what is queued, then exits
  }
  cv_.notify_all();
  if (writer_thread_.joinable()) writer_thread_.join();
}

void SqliteStore::Submit(Op op) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      queue_.push_back(std::move(op));
      queue_depth_->Set(static_cast<int64_t>(queue_.size()));
      cv_.notify_one();
      return;
    }
  }
  op.finish(Error{Errc::kUnavailable, "the store is shut down"});
}

Status SqliteStore::SubmitSync(std::function<Status(Conn&)> apply) {
  auto promise = std::make_shared<std::promise<Status>>();
  auto future = promise->get_future();
  Submit(Op{std::move(apply), [promise](Status st) { promise->set_value(std::move(st)); }});
  return future.get();
}

void SqliteStore::WriterLoop() {
  std::vector<Op> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
      if (queue_.empty() && stopping_) break;
      size_t n = std::min(queue_.size(), options_.max_batch);
      batch.clear();
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      queue_depth_->Set(static_cast<int64_t>(queue_.size()));
    }
    CommitBatch(batch);
  }
}

void SqliteStore::CommitBatch(std::vector<Op>& batch) {
  auto t0 = std::chrono::steady_clock::now();
  std::vector<Status> results(batch.size(), OkStatus());
  Status begin = writer_->ExecScript("BEGIN IMMEDIATE");
  if (!begin) {
    commit_errors_->Add();
    obs::Error("store_begin_failed", {{"error", begin.error().message}});
    for (auto& op : batch) op.finish(begin.error());
    return;
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    auto sp = writer_->Prepare("SAVEPOINT op");
    if (!sp || !(*sp)->Exec()) {
      results[i] = Error{Errc::kStorage, "cannot open savepoint"};
      continue;
    }
    Status st = batch[i].apply(*writer_);
    if (st) {
      if (auto rel = writer_->Prepare("RELEASE op"); rel) (void)(*rel)->Exec();
      continue;
    }
    results[i] = st;
    if (sqlite3_get_autocommit(writer_->raw())) {
      // SQLite rolled back the whole transaction by itself (it may on SQLITE_FULL, IOERR,
      // NOMEM): the ops before this one are gone too and must not be acknowledged.
      for (size_t j = 0; j < i; ++j)
        if (results[j])
          results[j] = Error{st.error().code, "batch rolled back: " + st.error().message};
      if (Status again = writer_->ExecScript("BEGIN IMMEDIATE"); !again) {
        for (size_t j = i + 1; j < batch.size(); ++j) results[j] = again.error();
        break;
      }
      continue;
    }
    if (auto rb = writer_->Prepare("ROLLBACK TO op"); rb) (void)(*rb)->Exec();
    if (auto rel = writer_->Prepare("RELEASE op"); rel) (void)(*rel)->Exec();
  }
  Status committed = OkStatus();
  if (!sqlite3_get_autocommit(writer_->raw())) {
    auto commit = writer_->Prepare("COMMIT");
    committed = commit ? (*commit)->Exec() : Status(commit.error());
  }
  if (!committed) {
    (void)writer_->ExecScript("ROLLBACK");
    commit_errors_->Add();
    obs::Error("store_commit_failed", {{"error", committed.error().message},
                                       {"code", ErrcName(committed.error().code)},
                                       {"ops", batch.size()}});
    for (auto& r : results)
      if (r) r = committed.error();
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  commit_seconds_->Observe(secs);
  batch_size_->Observe(static_cast<double>(batch.size()));
  for (size_t i = 0; i < batch.size(); ++i) batch[i].finish(std::move(results[i]));
}

void SqliteStore::WithReader(const std::function<void(Conn&)>& fn) {
  // Try each connection without blocking first; block on one only if all are busy.
  size_t n = readers_.size();
  size_t start = next_reader_.fetch_add(1, std::memory_order_relaxed);
  for (size_t i = 0; i < n; ++i) {
    Reader& r = *readers_[(start + i) % n];
    std::unique_lock lock(r.mu, std::try_to_lock);
    if (lock.owns_lock()) return fn(*r.conn);
  }
  Reader& r = *readers_[start % n];
  std::lock_guard lock(r.mu);
  return fn(*r.conn);
}

}  // namespace keel::store::sqlite
