#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "observability/metrics.h"
#include "store/sqlite/db.h"
#include "store/store.h"

namespace keel::store::sqlite {

struct SqliteOptions {
  std::string path;  // the database file, e.g. data/keel.db
  // PRAGMA synchronous: "full" (default: every commit is fsynced, nothing acknowledged is lost
  // on power failure), "normal" (WAL is fsynced only at checkpoints: a power failure may lose
  // the last commits, a process crash loses nothing), "off" (no fsync: tests only).
  std::string synchronous = "full";
  int read_connections = 4;
  size_t max_batch = 1024;  // ops per group commit
  // PRAGMA max_page_count when > 0: a size cap; writes beyond it fail with storage_full.
  int64_t max_page_count = 0;
  obs::Registry* metrics = nullptr;  // defaults to obs::Registry::Default()
};

// The embedded Store: one SQLite file in WAL mode.
//
// Writes go to one writer thread that applies every queued op inside one transaction (each
// op under its own savepoint, so a failing op rolls back alone), commits once, and only then
// runs the callbacks: group commit. Reads use a small pool of read-only connections and see
// the last committed state. Thread-safe.
class SqliteStore final : public Store {
 public:
  static Result<std::unique_ptr<SqliteStore>> Open(SqliteOptions options);
  ~SqliteStore() override;

  void Admit(AdmitRequest req, Callback<AdmitOutcome> done) override;
  void Append(AppendRequest req, Callback<Ok> done) override;
  void WaitForSignal(SignalWaitRequest req, Callback<SignalWaitOutcome> done) override;
  void TakeInterrupts(std::string run_id, std::string owner, int64_t epoch, int64_t seq,
                      Callback<model::JournalEntry> done) override;
  void DeliverSignal(std::string run_id, std::string name, std::string payload_json,
                     Callback<DeliverOutcome> done) override;
  void Finish(std::string run_id, Transition t, Callback<model::RunRecord> done) override;
  void RequestCancel(std::string run_id, Callback<model::RunRecord> done) override;
  void UpdateOutbox(OutboxUpdate u, Callback<model::OutboxIntent> done) override;
  Result<std::vector<model::OutboxIntent>> DueOutbox(int64_t now_ms, int limit) override;
  Result<int64_t> NextOutboxAttempt() override;
  Result<model::OutboxIntent> GetOutbox(const std::string& key) override;
  Result<std::vector<model::OutboxIntent>> ListOutbox(const OutboxFilter& f) override;
  void DecideApproval(ApprovalDecision d, Callback<ApprovalOutcome> done) override;
  void ExpireApproval(ApprovalExpiry e, Callback<ApprovalExpiryOutcome> done) override;
  Result<model::Approval> GetApproval(const std::string& id) override;
  Result<std::vector<model::Approval>> ListApprovals(const ApprovalFilter& f) override;
  Result<std::vector<model::ApprovalEvent>> ApprovalAudit(const std::string& id) override;
  Result<std::vector<std::pair<std::string, int64_t>>> ApprovalDeadlines() override;
  Result<std::vector<model::RunRecord>> ListChildren(const std::string& parent_id) override;
  void Acquire(std::string run_id, std::string owner, int64_t expires_at_ms,
               Callback<AcquireOutcome> done) override;
  void Heartbeat(std::string owner, int64_t expires_at_ms, Callback<Ok> done) override;
  void ReleaseAll(std::string owner, Callback<Ok> done) override;
  Result<std::vector<model::RunRecord>> TakeOverRuns(std::string owner, int64_t expires_at_ms,
                                                     bool take_all, int64_t now_ms) override;
  Result<std::vector<std::pair<std::string, int64_t>>> WaitingTimers() override;
  Status PutWorkflow(const std::string& code_hash, const std::string& intent,
                     const std::string& source) override;
  Result<std::string> GetWorkflow(const std::string& code_hash) override;
  Result<std::string> GetBlob(const std::string& key) override;
  Result<model::RunRecord> GetRun(const std::string& run_id) override;
  Result<std::vector<model::RunRecord>> ListRuns(const RunFilter& filter) override;
  Result<std::vector<model::JournalEntry>> ReadJournal(const std::string& run_id, int64_t after_seq,
                                                       int limit) override;
  Result<std::vector<std::tuple<std::string, std::string, int64_t>>> CountRuns() override;
  void Drain() override;

  // PRAGMA integrity_check on a read connection; "ok" when healthy.
  Result<std::string> IntegrityCheck();

 private:
  // One write. `apply` runs on the writer thread inside the batch transaction; `finish` runs
  // after the commit with apply's status, or with the commit's error.
  struct Op {
    std::function<Status(Conn&)> apply;
    std::function<void(Status)> finish;
  };

  explicit SqliteStore(SqliteOptions options);
  Status Init();
  void Submit(Op op);
  // Submits an op and blocks until it is durable (start-up and rare admin paths only).
  Status SubmitSync(std::function<Status(Conn&)> apply);
  void WriterLoop();
  void CommitBatch(std::vector<Op>& batch);

  // Runs `fn` with a read connection from the pool.
  void WithReader(const std::function<void(Conn&)>& fn);

  SqliteOptions options_;
  std::unique_ptr<Conn> writer_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Op> queue_;
  bool stopping_ = false;
  std::thread writer_thread_;

  struct Reader {
    std::mutex mu;
    std::unique_ptr<Conn> conn;
  };
  std::vector<std::unique_ptr<Reader>> readers_;
  std::atomic<size_t> next_reader_{0};

  obs::Histogram* batch_size_;
  obs::Histogram* commit_seconds_;
  obs::Counter* commit_errors_;
  obs::Gauge* queue_depth_;
};

}  // namespace keel::store::sqlite
