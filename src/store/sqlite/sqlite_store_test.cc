#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "store/sqlite/data_dir_lock.h"
#include "store/sqlite/store_test_fixture.h"

namespace keel::store::sqlite {
namespace {

TEST_F(SqliteStoreTest, AdmitThenReadBack) {
  auto r = Admit(NewRun("r1"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->existing);
  auto got = store_->GetRun("r1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->intent, "wf");
  EXPECT_EQ(got->status, RunStatus::kRunning);
  EXPECT_EQ(got->lease_epoch, 1);
  EXPECT_EQ(store_->GetRun("nope").error().code, Errc::kNotFound);
}

TEST_F(SqliteStoreTest, IdempotencyKeyReturnsExistingOrConflicts) {
  ASSERT_TRUE(Admit(NewRun("r1", "k")).ok());
  auto again = Admit(NewRun("r2", "k"));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->existing);
  EXPECT_EQ(again->run.id, "r1");
  auto other = Admit(NewRun("r3", "k"), "different-payload");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, Errc::kConflict);
  // Same run_id and payload: the existing run.
  auto same_id = Admit(NewRun("r1"));
  ASSERT_TRUE(same_id.ok());
  EXPECT_TRUE(same_id->existing);
}

TEST_F(SqliteStoreTest, ConcurrentAdmitsOfOneKeyMakeOneRun) {
  std::vector<std::thread> threads;
  std::vector<std::string> ids(50);
  for (int i = 0; i < 50; ++i) {
    threads.emplace_back([&, i] {
      auto r = Admit(NewRun("r" + std::to_string(i), "same-key"));
      ASSERT_TRUE(r.ok());
      ids[i] = r->run.id;
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& id : ids) EXPECT_EQ(id, ids[0]);
  auto all = store_->ListRuns({});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
}

TEST_F(SqliteStoreTest, AppendIsFencedByEpochAndFinishedRuns) {
  ASSERT_TRUE(Admit(NewRun("r1")).ok());
  ASSERT_TRUE(Append("r1", 1, {1, 2}).ok());
  EXPECT_EQ(Append("r1", 0, {3}).error().code, Errc::kFenced);
  EXPECT_EQ(Append("r1", 1, {3}, std::nullopt, "node-b").error().code, Errc::kFenced);
  // A takeover bumps the epoch; the old owner can no longer write.
  Waiter<AcquireOutcome> acq;
  store_->Acquire("r1", "node-b", 99999, acq.cb());
  auto a = acq.get();
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->run.lease_epoch, 2);
  EXPECT_EQ(Append("r1", 1, {3}).error().code, Errc::kFenced);
  ASSERT_TRUE(Append("r1", 2, {3}, std::nullopt, "node-b").ok());
  Transition done;
  done.status = RunStatus::kSucceeded;
  done.result_json = "7";
  ASSERT_TRUE(Append("r1", 2, {}, done, "node-b").ok());
  EXPECT_EQ(Append("r1", 2, {4}, std::nullopt, "node-b").error().code, Errc::kAlreadyFinished);
  auto j = store_->ReadJournal("r1", 0, 100);
  ASSERT_TRUE(j.ok());
  ASSERT_EQ(j->size(), 3u);
  EXPECT_EQ((*j)[2].seq, 3);
}

TEST_F(SqliteStoreTest, JournalStaysContiguous) {
  ASSERT_TRUE(Admit(NewRun("r1")).ok());
  ASSERT_TRUE(Append("r1", 1, {1}).ok());
  EXPECT_EQ(Append("r1", 1, {3}).error().code, Errc::kFenced);  // gap
  EXPECT_EQ(Append("r1", 1, {1}).error().code, Errc::kFenced);  // duplicate
  EXPECT_EQ(store_->ReadJournal("r1", 0, 100)->size(), 1u);
}

TEST_F(SqliteStoreTest, FailedOpRollsBackAloneInItsBatch) {
  ASSERT_TRUE(Admit(NewRun("r1")).ok());
  ASSERT_TRUE(Admit(NewRun("r2")).ok());
  // Two appends in flight together; the bad one (second entry duplicates) fails alone.
  Waiter<Ok> good, bad;
  AppendRequest a;
  a.run_id = "r1";
  a.lease_owner = "node-a";
  a.lease_epoch = 1;
  a.entries.push_back({"r1", 1, EntryKind::kStep, "s", "", "1", 0});
  AppendRequest b = a;
  b.run_id = "r2";
  b.entries = {{"r2", 1, EntryKind::kStep, "s", "", "1", 0},
               {"r2", 1, EntryKind::kStep, "s", "", "1", 0}};
  store_->Append(a, good.cb());
  store_->Append(b, bad.cb());
  EXPECT_TRUE(good.get().ok());
  EXPECT_FALSE(bad.get().ok());
  EXPECT_EQ(store_->ReadJournal("r1", 0, 10)->size(), 1u);
  EXPECT_EQ(store_->ReadJournal("r2", 0, 10)->size(), 0u);  // the first of b rolled back too
}

TEST_F(SqliteStoreTest, SignalDeliveredBeforeWaitIsConsumed) {
  ASSERT_TRUE(Admit(NewRun("r1")).ok());
  Waiter<DeliverOutcome> d;
  store_->DeliverSignal("r1", "go", "{\"x\":1}", d.cb());
  auto delivered = d.get();
  ASSERT_TRUE(delivered.ok());
  EXPECT_FALSE(delivered->woke);  // not waiting yet
  SignalWaitRequest req{"r1", "node-a", 1, 1, "go", 0, 0};
  Waiter<SignalWaitOutcome> w;
  store_->WaitForSignal(req, w.cb());
  auto out = w.get();
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->parked);
  EXPECT_EQ(out->entry.result_json, "{\"signal\":{\"x\":1}}");
}

TEST_F(SqliteStoreTest, WaitParksThenSignalWakes) {
  ASSERT_TRUE(Admit(NewRun("r1")).ok());
  SignalWaitRequest req{"r1", "node-a", 1, 1, "go", 5000, 1000};
  Waiter<SignalWaitOutcome> w;
  store_->WaitForSignal(req, w.cb());
  auto out = w.get();
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->parked);
  auto run = store_->GetRun("r1");
  EXPECT_EQ(run->status, RunStatus::kWaiting);
  EXPECT_EQ(run->wait_reason, "signal:go");
  EXPECT_EQ(run->wake_at_ms, 5000);
  EXPECT_EQ(run->lease_owner, "");
  auto timers = store_->WaitingTimers();
  ASSERT_EQ(timers->size(), 1u);
  EXPECT_EQ((*timers)[0].second, 5000);
  Waiter<DeliverOutcome> other;
  store_->DeliverSignal("r1", "other", "1", other.cb());
  EXPECT_FALSE(other.get()->woke);
  Waiter<DeliverOutcome> d;
  store_->DeliverSignal("r1", "go", "2", d.cb());
  EXPECT_TRUE(d.get()->woke);
  EXPECT_EQ(store_->GetRun("r1")->status, RunStatus::kQueued);
}

TEST_F(SqliteStoreTest, SignalTimeoutIsJournaled) {
  ASSERT_TRUE(Admit(NewRun("r1")).ok());
  SignalWaitRequest req{"r1", "node-a", 1, 1, "go", 5000, 6000};
  Waiter<SignalWaitOutcome> w;
  store_->WaitForSignal(req, w.cb());
  auto out = w.get();
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->parked);
  EXPECT_EQ(out->entry.result_json, "{\"timeout\":true}");
}

TEST_F(SqliteStoreTest, InterruptsAreTakenOnceInOrder) {
  ASSERT_TRUE(Admit(NewRun("r1")).ok());
  for (const char* p : {"\"a\"", "\"b\""}) {
    Waiter<DeliverOutcome> d;
    store_->DeliverSignal("r1", "$interrupt", p, d.cb());
    ASSERT_TRUE(d.get().ok());
  }
  Waiter<model::JournalEntry> first;
  store_->TakeInterrupts("r1", "node-a", 1, 1, first.cb());
  EXPECT_EQ(first.get()->result_json, "[\"a\",\"b\"]");
  Waiter<model::JournalEntry> second;
  store_->TakeInterrupts("r1", "node-a", 1, 2, second.cb());
  EXPECT_EQ(second.get()->result_json, "[]");
}

TEST_F(SqliteStoreTest, TakeOverBumpsEpochsOfLiveRuns) {
  ASSERT_TRUE(Admit(NewRun("r1")).ok());
  ASSERT_TRUE(Admit(NewRun("r2")).ok());
  Transition done;
  done.status = RunStatus::kSucceeded;
  ASSERT_TRUE(Append("r2", 1, {}, done).ok());
  auto runs = store_->TakeOverRuns("node-b", 5000, /*take_all=*/true, 100);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].id, "r1");
  EXPECT_EQ((*runs)[0].lease_epoch, 2);
  EXPECT_EQ((*runs)[0].lease_owner, "node-b");
  // Without the directory lock, an unexpired lease is left alone.
  auto none = store_->TakeOverRuns("node-c", 5000, /*take_all=*/false, 100);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(SqliteStoreTest, FinishCancelsOnceAndReleasesTheLease) {
  ASSERT_TRUE(Admit(NewRun("r1")).ok());
  Transition t;
  t.status = RunStatus::kCancelled;
  t.error_code = "cancelled";
  Waiter<model::RunRecord> w;
  store_->Finish("r1", t, w.cb());
  auto r = w.get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, RunStatus::kCancelled);
  EXPECT_EQ(r->lease_owner, "");
  Waiter<model::RunRecord> again;
  store_->Finish("r1", t, again.cb());
  EXPECT_EQ(again.get().error().code, Errc::kAlreadyFinished);
}

TEST_F(SqliteStoreTest, WorkflowsByHash) {
  ASSERT_TRUE(store_->PutWorkflow("h1", "wf", "return 1").ok());
  ASSERT_TRUE(store_->PutWorkflow("h1", "wf", "return 1").ok());  // idempotent
  EXPECT_EQ(store_->PutWorkflow("h1", "wf", "return 2").error().code, Errc::kConflict);
  EXPECT_EQ(*store_->GetWorkflow("h1"), "return 1");
  EXPECT_EQ(store_->GetWorkflow("h2").error().code, Errc::kNotFound);
}

TEST_F(SqliteStoreTest, ReopenKeepsDataAndSchema) {
  ASSERT_TRUE(Admit(NewRun("r1")).ok());
  store_.reset();
  store_ = Open();
  ASSERT_TRUE(store_);
  EXPECT_TRUE(store_->GetRun("r1").ok());
  EXPECT_EQ(*store_->IntegrityCheck(), "ok");
}

TEST_F(SqliteStoreTest, FullDatabaseIsAnErrorNotACrash) {
  store_.reset();
  store_ = Open(/*max_pages=*/40);
  ASSERT_TRUE(store_);
  std::string big(2000, 'x');
  Errc last = Errc::kInternal;
  int admitted = 0;
  for (int i = 0; i < 500; ++i) {
    auto r = NewRun("r" + std::to_string(i));
    r.payload_json = "\"" + big + "\"";
    auto out = Admit(r);
    if (!out.ok()) {
      last = out.error().code;
      break;
    }
    ++admitted;
  }
  EXPECT_EQ(last, Errc::kStorageFull);
  EXPECT_GT(admitted, 0);
  // What was acknowledged is still there, and reads keep working.
  EXPECT_TRUE(store_->GetRun("r0").ok());
  EXPECT_EQ(store_->ListRuns({.limit = 1000})->size(), static_cast<size_t>(admitted));
}

TEST_F(SqliteStoreTest, CorruptFileIsAClearError) {
  store_.reset();
  std::filesystem::remove(dir_ + "/keel.db");
  std::filesystem::remove(dir_ + "/keel.db-wal");
  std::filesystem::remove(dir_ + "/keel.db-shm");
  std::ofstream(dir_ + "/keel.db") << std::string(8192, 'z');
  SqliteOptions o;
  o.path = dir_ + "/keel.db";
  auto s = SqliteStore::Open(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("corrupt"), std::string::npos) << s.error().message;
}

TEST(DataDirLock, SecondHolderIsRefusedWithTheHolder) {
  char tmpl[] = "/tmp/keel-lock-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  auto first = DataDirLock::Acquire(dir);
  ASSERT_TRUE(first.ok());
  // flock locks belong to the open file description, so a second open in this process
  // conflicts just as another process would.
  auto second = DataDirLock::Acquire(dir);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, Errc::kUnavailable);
  EXPECT_NE(second.error().message.find("in use by another keel server (pid "), std::string::npos);
  first->reset();
  EXPECT_TRUE(DataDirLock::Acquire(dir).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace keel::store::sqlite
