// OutboxDispatcher against a real SqliteStore in a temporary directory, with a scripted
// Gateway: the dispatcher's own decisions (when to send, what to record, when to give up)
// are under test here; the real gateway delivering to real endpoints is the integration
// tests' business.
#include "engine/outbox_dispatcher.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include <boost/json.hpp>

#include "store/sqlite/sqlite_store.h"

namespace keel::engine {
namespace {

namespace json = boost::json;
using gateway::ToolCallRequest;
using gateway::ToolCallResult;

// Waits (generously) for `pred`, polling; false if it never held.
bool WaitFor(const std::function<bool()>& pred, int timeout_ms = 10'000) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

ToolCallResult Ok(const std::string& result_json) {
  ToolCallResult r;
  r.ok = true;
  r.result_json = result_json;
  return r;
}
ToolCallResult Fail(const std::string& code, const std::string& message, int64_t retry_at_ms = 0) {
  ToolCallResult r;
  r.error_code = code;
  r.message = message;
  r.retry_at_ms = retry_at_ms;
  return r;
}

// A gateway whose tool calls are answered by `answer` (on the caller's thread, as the real
// one does for calls it refuses at once), or held until the test answers or cancels them.
class ScriptedGateway final : public gateway::Gateway {
 public:
  using Answer = std::function<ToolCallResult(const ToolCallRequest&, int call_number)>;
  void SetAnswer(Answer a) {
    std::lock_guard lock(mu_);
    answer_ = std::move(a);
  }
  // Calls are kept, unanswered, until the test calls AnswerHeld or their token is cancelled.
  void Hold(bool hold) {
    std::lock_guard lock(mu_);
    hold_ = hold;
  }

  void CallModel(gateway::ModelCallRequest,
                 std::function<void(gateway::ModelCallResult)> done) override {
    gateway::ModelCallResult r;
    r.error_code = "unknown_model";
    done(std::move(r));
  }
  void CallTool(ToolCallRequest req, std::function<void(ToolCallResult)> done) override {
    Answer answer;
    int n;
    std::shared_ptr<Held> held;
    {
      std::lock_guard lock(mu_);
      requests_.push_back(req);
      n = ++calls_by_key_[req.idempotency_key];
      if (hold_) {
        held = std::make_shared<Held>();
        held->done = std::move(done);
        held_.push_back(held);
      }
      answer = answer_;
    }
    if (held) {
      if (req.cancel) {
        req.cancel->OnCancel([held] { held->Answer(Fail("cancelled", "the call was cancelled")); });
      }
      return;
    }
    done(answer ? answer(req, n) : Ok("{}"));
  }
  Result<ToolTraits> TraitsOf(const std::string&) const override { return ToolTraits{}; }
  Result<json::object> DescribeTool(const std::string& name) const override {
    return json::object{{"name", name}};
  }
  Result<std::vector<std::string>> ResolveTarget(const std::string& t) const override {
    return std::vector<std::string>{t};
  }
  gateway::Price PriceOf(const std::string&) const override { return {}; }
  json::array BreakerStates() const override { return {}; }

  std::vector<ToolCallRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  int calls(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = calls_by_key_.find(key);
    return it == calls_by_key_.end() ? 0 : it->second;
  }
  size_t held() {
    std::lock_guard lock(mu_);
    return held_.size();
  }
  void AnswerHeld(size_t i, ToolCallResult r) {
    std::shared_ptr<Held> h;
    {
      std::lock_guard lock(mu_);
      h = held_.at(i);
    }
    h->Answer(std::move(r));
  }

 private:
  struct Held {
    std::function<void(ToolCallResult)> done;
    std::once_flag once;
    void Answer(ToolCallResult r) {
      std::call_once(once, [&] { done(std::move(r)); });
    }
  };
  std::mutex mu_;
  Answer answer_;
  bool hold_ = false;
  std::vector<ToolCallRequest> requests_;
  std::map<std::string, int> calls_by_key_;
  std::vector<std::shared_ptr<Held>> held_;
};

// The real store, except that the next `fail_updates` UpdateOutbox calls fail, as a full
// disk or an I/O error would.
class FlakyStore final : public store::Store {
 public:
  explicit FlakyStore(store::Store& s) : s_(s) {}
  std::atomic<int> fail_updates{0};

  void UpdateOutbox(store::OutboxUpdate u, store::Callback<model::OutboxIntent> done) override {
    if (fail_updates.load() > 0) {
      --fail_updates;
      done(Error{Errc::kStorage, "disk I/O error"});
      return;
    }
    s_.UpdateOutbox(std::move(u), std::move(done));
  }
  // The rest is the real store's.
  void Admit(store::AdmitRequest r, store::Callback<store::AdmitOutcome> d) override {
    s_.Admit(std::move(r), std::move(d));
  }
  void Append(store::AppendRequest r, store::Callback<keel::Ok> d) override {
    s_.Append(std::move(r), std::move(d));
  }
  void WaitForSignal(store::SignalWaitRequest r,
                     store::Callback<store::SignalWaitOutcome> d) override {
    s_.WaitForSignal(std::move(r), std::move(d));
  }
  void TakeInterrupts(std::string id, std::string o, int64_t e, int64_t seq,
                      store::Callback<model::JournalEntry> d) override {
    s_.TakeInterrupts(std::move(id), std::move(o), e, seq, std::move(d));
  }
  void DeliverSignal(std::string id, std::string n, std::string p,
                     store::Callback<store::DeliverOutcome> d) override {
    s_.DeliverSignal(std::move(id), std::move(n), std::move(p), std::move(d));
  }
  void Finish(std::string id, store::Transition t, store::Callback<model::RunRecord> d) override {
    s_.Finish(std::move(id), std::move(t), std::move(d));
  }
  void RequestCancel(std::string id, store::Callback<model::RunRecord> d) override {
    s_.RequestCancel(std::move(id), std::move(d));
  }
  Result<std::vector<model::OutboxIntent>> DueOutbox(int64_t now, int limit) override {
    return s_.DueOutbox(now, limit);
  }
  Result<int64_t> NextOutboxAttempt() override { return s_.NextOutboxAttempt(); }
  Result<model::OutboxIntent> GetOutbox(const std::string& k) override { return s_.GetOutbox(k); }
  Result<std::vector<model::OutboxIntent>> ListOutbox(const store::OutboxFilter& f) override {
    return s_.ListOutbox(f);
  }
  void DecideApproval(store::ApprovalDecision a,
                      store::Callback<store::ApprovalOutcome> d) override {
    s_.DecideApproval(std::move(a), std::move(d));
  }
  void ExpireApproval(store::ApprovalExpiry e,
                      store::Callback<store::ApprovalExpiryOutcome> d) override {
    s_.ExpireApproval(std::move(e), std::move(d));
  }
  Result<model::Approval> GetApproval(const std::string& id) override { return s_.GetApproval(id); }
  Result<std::vector<model::Approval>> ListApprovals(const store::ApprovalFilter& f) override {
    return s_.ListApprovals(f);
  }
  Result<std::vector<model::ApprovalEvent>> ApprovalAudit(const std::string& id) override {
    return s_.ApprovalAudit(id);
  }
  Result<std::vector<std::pair<std::string, int64_t>>> ApprovalDeadlines() override {
    return s_.ApprovalDeadlines();
  }
  Result<std::vector<model::RunRecord>> ListChildren(const std::string& id) override {
    return s_.ListChildren(id);
  }
  void Acquire(std::string id, std::string o, int64_t at,
               store::Callback<store::AcquireOutcome> d) override {
    s_.Acquire(std::move(id), std::move(o), at, std::move(d));
  }
  void Heartbeat(std::string o, int64_t at, store::Callback<keel::Ok> d) override {
    s_.Heartbeat(std::move(o), at, std::move(d));
  }
  void ReleaseAll(std::string o, store::Callback<keel::Ok> d) override {
    s_.ReleaseAll(std::move(o), std::move(d));
  }
  Result<std::vector<model::RunRecord>> TakeOverRuns(std::string o, int64_t at, bool all,
                                                     int64_t now) override {
    return s_.TakeOverRuns(std::move(o), at, all, now);
  }
  Result<std::vector<std::pair<std::string, int64_t>>> WaitingTimers() override {
    return s_.WaitingTimers();
  }
  Status PutWorkflow(const std::string& h, const std::string& i, const std::string& s) override {
    return s_.PutWorkflow(h, i, s);
  }
  Result<std::string> GetWorkflow(const std::string& h) override { return s_.GetWorkflow(h); }
  Result<std::string> GetBlob(const std::string& k) override { return s_.GetBlob(k); }
  Result<model::RunRecord> GetRun(const std::string& id) override { return s_.GetRun(id); }
  Result<std::vector<model::RunRecord>> ListRuns(const store::RunFilter& f) override {
    return s_.ListRuns(f);
  }
  Result<std::vector<model::JournalEntry>> ReadJournal(const std::string& id, int64_t after,
                                                       int limit) override {
    return s_.ReadJournal(id, after, limit);
  }
  Result<std::vector<std::tuple<std::string, std::string, int64_t>>> CountRuns() override {
    return s_.CountRuns();
  }
  void Drain() override { s_.Drain(); }

 private:
  store::Store& s_;
};

class OutboxDispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/keel-outbox-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store::sqlite::SqliteOptions o;
    o.path = dir_ + "/keel.db";
    o.synchronous = "off";
    o.metrics = &metrics_;
    auto s = store::sqlite::SqliteStore::Open(o);
    ASSERT_TRUE(s.ok()) << s.error().message;
    sqlite_ = std::move(*s);
    flaky_ = std::make_unique<FlakyStore>(*sqlite_);
    timers_.Start();
    model::RunRecord run;
    run.id = "run-1";
    run.intent = "wf";
    run.tenant = "t1";
    run.payload_json = "{}";
    run.code_hash = "abc";
    run.status = model::RunStatus::kRunning;
    run.lease_owner = "node-a";
    run.lease_epoch = 1;
    run.created_at_ms = clock_.WallMs();
    std::promise<Result<store::AdmitOutcome>> admitted;
    sqlite_->Admit({run, "h"}, [&](Result<store::AdmitOutcome> r) { admitted.set_value(r); });
    auto r = admitted.get_future().get();
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  void TearDown() override {
    dispatcher_.reset();
    timers_.Stop();
    flaky_.reset();
    sqlite_.reset();
    std::filesystem::remove_all(dir_);
  }

  OutboxDispatcher::Options FastOptions() {
    OutboxDispatcher::Options o;
    o.max_in_flight = 4;
    o.base_backoff_ms = 100;
    o.max_backoff_ms = 1000;
    o.poll_ms = 60'000;  // fake time: polls happen when a test moves the clock, or on Kick
    o.metrics = &metrics_;
    return o;
  }

  void StartDispatcher(OutboxDispatcher::Options o) {
    dispatcher_ = std::make_unique<OutboxDispatcher>(*flaky_, gateway_, timers_, clock_, random_, o,
                                                     [this](const model::OutboxIntent& row) {
                                                       std::lock_guard lock(mu_);
                                                       settled_.push_back(row);
                                                     });
    dispatcher_->Start();
  }
  void StartDispatcher() { StartDispatcher(FastOptions()); }

  model::OutboxIntent Intent(int64_t seq, const std::string& target, int max_attempts = 10) {
    model::OutboxIntent o;
    o.key = "run-1:" + std::to_string(seq);
    o.run_id = "run-1";
    o.seq = seq;
    o.tenant = "t1";
    o.kind = "tool";
    o.target = target;
    o.args_json = R"({"to":"ana@example.com","n":)" + std::to_string(seq) + "}";
    o.max_attempts = max_attempts;
    o.next_attempt_at_ms = clock_.WallMs();
    o.created_at_ms = clock_.WallMs();
    return o;
  }

  // Commits intents as the engine does, in an Append of the run (the journal entries that go
  // with them are left out: the dispatcher reads only the outbox).
  void Commit(std::vector<model::OutboxIntent> intents) {
    store::AppendRequest req;
    req.run_id = "run-1";
    req.lease_owner = "node-a";
    req.lease_epoch = 1;
    req.outbox = std::move(intents);
    std::promise<Result<keel::Ok>> done;
    sqlite_->Append(std::move(req), [&](Result<keel::Ok> r) { done.set_value(r); });
    auto r = done.get_future().get();
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  model::OutboxIntent Row(const std::string& key) {
    auto r = sqlite_->GetOutbox(key);
    EXPECT_TRUE(r.ok()) << key << ": " << r.error().message;
    return r.ok() ? *r : model::OutboxIntent{};
  }
  bool RowIs(const std::string& key, const std::string& status, int attempts) {
    auto r = sqlite_->GetOutbox(key);
    return r.ok() && r->status == status && r->attempts == attempts;
  }
  std::vector<model::OutboxIntent> Settled() {
    std::lock_guard lock(mu_);
    return settled_;
  }
  int SettledCount(const std::string& key) {
    int n = 0;
    for (const auto& r : Settled()) n += r.key == key;
    return n;
  }
  uint64_t Deliveries(const std::string& outcome) {
    return metrics_.GetCounter("keel_outbox_deliveries_total", "", "outcome=\"" + outcome + "\"")
        .Value();
  }

  std::string dir_;
  obs::Registry metrics_;
  FakeClock clock_;
  Random random_{99};
  TimerQueue timers_{clock_};
  ScriptedGateway gateway_;
  std::unique_ptr<store::sqlite::SqliteStore> sqlite_;
  std::unique_ptr<FlakyStore> flaky_;
  std::unique_ptr<OutboxDispatcher> dispatcher_;
  std::mutex mu_;
  std::vector<model::OutboxIntent> settled_;
};

TEST_F(OutboxDispatcherTest, DeliversAPendingIntentWithItsKeyAndSeq) {
  gateway_.SetAnswer([](const ToolCallRequest&, int) { return Ok(R"({"message_id":"m-1"})"); });
  Commit({Intent(3, "send_email")});
  StartDispatcher();

  ASSERT_TRUE(WaitFor([&] { return SettledCount("run-1:3") == 1; }));
  model::OutboxIntent row = Row("run-1:3");
  EXPECT_EQ(row.status, "delivered");
  EXPECT_EQ(row.attempts, 1);
  EXPECT_EQ(json::parse(row.result_json), json::parse(R"({"message_id":"m-1"})"));
  EXPECT_EQ(Settled()[0].status, "delivered");
  EXPECT_EQ(Settled()[0].result_json, row.result_json);

  auto reqs = gateway_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].idempotency_key, "run-1:3");
  EXPECT_EQ(reqs[0].run_id, "run-1");
  EXPECT_EQ(reqs[0].seq, 3);
  EXPECT_EQ(reqs[0].tenant, "t1");
  EXPECT_EQ(reqs[0].name, "send_email");
  EXPECT_EQ(json::parse(reqs[0].args_json), json::parse(R"({"to":"ana@example.com","n":3})"));
  EXPECT_EQ(reqs[0].deadline_at_ms, 0);
  ASSERT_NE(reqs[0].cancel, nullptr);
  // W3C: 00-<32 hex>-<16 hex>-01.
  const std::string& tp = reqs[0].traceparent;
  ASSERT_EQ(tp.size(), 55u) << tp;
  EXPECT_EQ(tp.substr(0, 3), "00-");
  EXPECT_EQ(tp.substr(52), "-01");
  EXPECT_EQ(tp.find_first_not_of("0123456789abcdef-"), std::string::npos) << tp;
  EXPECT_EQ(Deliveries("delivered"), 1u);
}

TEST_F(OutboxDispatcherTest, UnavailableIsRetriedNoEarlierThanTheGatewaySaysThenDelivered) {
  const int64_t t0 = clock_.WallMs();
  gateway_.SetAnswer([t0](const ToolCallRequest&, int n) {
    return n == 1 ? Fail("tool_unavailable", "circuit breaker tool:send_email is open", t0 + 5000)
                  : Ok(R"({"sent":true})");
  });
  Commit({Intent(4, "send_email")});
  StartDispatcher();

  ASSERT_TRUE(WaitFor([&] { return RowIs("run-1:4", "pending", 1); }));
  model::OutboxIntent row = Row("run-1:4");
  // The backoff (at most 100 ms for the first retry) is raised to the breaker's retry time.
  EXPECT_EQ(row.next_attempt_at_ms, t0 + 5000);
  EXPECT_EQ(row.last_error, "tool_unavailable: circuit breaker tool:send_email is open");
  EXPECT_TRUE(Settled().empty());
  EXPECT_EQ(Deliveries("retry"), 1u);

  clock_.AdvanceMs(5000);  // now due: the timer armed for it fires
  ASSERT_TRUE(WaitFor([&] { return SettledCount("run-1:4") == 1; }));
  row = Row("run-1:4");
  EXPECT_EQ(row.status, "delivered");
  EXPECT_EQ(row.attempts, 2);
  EXPECT_EQ(gateway_.calls("run-1:4"), 2);
  // Every attempt carries the same key, so the receiver can drop repeats.
  for (const auto& r : gateway_.requests()) EXPECT_EQ(r.idempotency_key, "run-1:4");
  EXPECT_EQ(Deliveries("delivered"), 1u);
}

TEST_F(OutboxDispatcherTest, FailsAfterMaxAttempts) {
  gateway_.SetAnswer(
      [](const ToolCallRequest&, int) { return Fail("tool_unavailable", "HTTP 503: down"); });
  Commit({Intent(5, "charge_card", /*max_attempts=*/3)});
  StartDispatcher();

  // Each retry waits at most 1 s of fake time; moving the clock past it lets the timer fire.
  ASSERT_TRUE(WaitFor([&] {
    if (SettledCount("run-1:5") > 0) return true;
    clock_.AdvanceMs(1000);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return false;
  }));
  model::OutboxIntent row = Row("run-1:5");
  EXPECT_EQ(row.status, "failed");
  EXPECT_EQ(row.attempts, 3);
  json::value result = json::parse(row.result_json);
  EXPECT_EQ(result.at("code"), "tool_unavailable");
  EXPECT_EQ(result.at("message"), "HTTP 503: down");
  EXPECT_EQ(gateway_.calls("run-1:5"), 3);
  ASSERT_EQ(Settled().size(), 1u);
  EXPECT_EQ(Settled()[0].status, "failed");
  EXPECT_EQ(Deliveries("retry"), 2u);
  EXPECT_EQ(Deliveries("failed"), 1u);
}

TEST_F(OutboxDispatcherTest, NonRetryableErrorsFailAtOnce) {
  gateway_.SetAnswer([](const ToolCallRequest& req, int) {
    if (req.name == "bad_args") return Fail("invalid_arguments", "amount: must be a number");
    if (req.name == "gone") return Fail("unknown_tool", "unknown tool \"gone\"");
    return Fail("tool_error", "HTTP 402: card declined");
  });
  Commit({Intent(6, "bad_args"), Intent(7, "gone"), Intent(8, "declines")});
  StartDispatcher();

  ASSERT_TRUE(WaitFor([&] { return Settled().size() == 3; }));
  const std::map<std::string, std::string> expect{
      {"run-1:6", "invalid_arguments"}, {"run-1:7", "unknown_tool"}, {"run-1:8", "tool_error"}};
  for (const auto& [key, code] : expect) {
    model::OutboxIntent row = Row(key);
    EXPECT_EQ(row.status, "failed") << key;
    EXPECT_EQ(row.attempts, 1) << key;
    EXPECT_EQ(json::parse(row.result_json).at("code").as_string(), code) << key;
    EXPECT_EQ(gateway_.calls(key), 1) << key;
    EXPECT_EQ(SettledCount(key), 1) << key;
  }
  EXPECT_EQ(json::parse(Row("run-1:8").result_json).at("message"), "HTTP 402: card declined");
}

TEST_F(OutboxDispatcherTest, EveryRowIsSettledExactlyOnce) {
  gateway_.SetAnswer([](const ToolCallRequest& req, int n) {
    // Every third intent needs a second attempt.
    if (req.seq % 3 == 0 && n == 1) return Fail("deadline_exceeded", "timed out");
    return Ok("\"done\"");
  });
  std::vector<model::OutboxIntent> intents;
  for (int seq = 1; seq <= 30; ++seq) intents.push_back(Intent(seq, "notify"));
  Commit(std::move(intents));
  StartDispatcher();  // 4 at a time: each outcome makes room for the next

  ASSERT_TRUE(WaitFor([&] {
    if (Settled().size() >= 30) return true;
    clock_.AdvanceMs(1000);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return false;
  }));
  for (int seq = 1; seq <= 30; ++seq) {
    std::string key = "run-1:" + std::to_string(seq);
    EXPECT_EQ(SettledCount(key), 1) << key;
    EXPECT_EQ(Row(key).status, "delivered") << key;
    EXPECT_EQ(gateway_.calls(key), seq % 3 == 0 ? 2 : 1) << key;
  }
  EXPECT_EQ(Settled().size(), 30u);
}

TEST_F(OutboxDispatcherTest, AtMostMaxInFlightAreSentAtOnce) {
  gateway_.Hold(true);
  std::vector<model::OutboxIntent> intents;
  for (int seq = 1; seq <= 5; ++seq) intents.push_back(Intent(seq, "slow_tool"));
  Commit(std::move(intents));
  OutboxDispatcher::Options o = FastOptions();
  o.max_in_flight = 2;
  StartDispatcher(o);

  ASSERT_TRUE(WaitFor([&] { return gateway_.held() == 2; }));
  // One outcome frees one slot: exactly one more goes out.
  gateway_.AnswerHeld(0, Ok("1"));
  ASSERT_TRUE(WaitFor([&] { return gateway_.held() == 3; }));
  // Stop joins the dispatcher thread: no poll is left half-done behind the count below.
  dispatcher_->Stop();
  EXPECT_EQ(gateway_.requests().size(), 3u);
  auto pending = sqlite_->ListOutbox({.status = "pending"});
  ASSERT_TRUE(pending.ok()) << pending.error().message;
  EXPECT_EQ(pending->size(), 4u);
  EXPECT_EQ(Settled().size(), 1u);
}

TEST_F(OutboxDispatcherTest, KickAndPollsFindIntentsCommittedLater) {
  StartDispatcher();
  Commit({Intent(9, "send_email")});
  dispatcher_->Kick();
  ASSERT_TRUE(WaitFor([&] { return SettledCount("run-1:9") == 1; }));

  // Committed without a Kick: the periodic poll finds it.
  Commit({Intent(10, "send_email")});
  clock_.AdvanceMs(FastOptions().poll_ms);
  ASSERT_TRUE(WaitFor([&] { return SettledCount("run-1:10") == 1; }));
  EXPECT_EQ(Row("run-1:10").status, "delivered");
}

TEST_F(OutboxDispatcherTest, IntentsDueLaterWaitForTheirTime) {
  model::OutboxIntent now = Intent(11, "send_email");
  model::OutboxIntent later = Intent(12, "send_email");
  later.next_attempt_at_ms = clock_.WallMs() + 30'000;
  Commit({now, later});
  StartDispatcher();

  // The poll that delivered the first saw the second as not due.
  ASSERT_TRUE(WaitFor([&] { return SettledCount("run-1:11") == 1; }));
  EXPECT_EQ(gateway_.calls("run-1:12"), 0);
  EXPECT_EQ(Row("run-1:12").status, "pending");
  clock_.AdvanceMs(30'000);
  ASSERT_TRUE(WaitFor([&] { return SettledCount("run-1:12") == 1; }));
  EXPECT_EQ(gateway_.calls("run-1:12"), 1);
}

TEST_F(OutboxDispatcherTest, AFailedRecordLeavesTheRowPendingAndItIsSentAgain) {
  gateway_.SetAnswer([](const ToolCallRequest&, int) { return Ok(R"({"booked":true})"); });
  flaky_->fail_updates = 1;
  Commit({Intent(13, "book_room")});
  StartDispatcher();

  // Sent, but the outcome could not be written: still pending, not settled.
  ASSERT_TRUE(
      WaitFor([&] { return gateway_.calls("run-1:13") == 1 && flaky_->fail_updates == 0; }));
  EXPECT_EQ(Row("run-1:13").status, "pending");
  EXPECT_EQ(Row("run-1:13").attempts, 0);
  EXPECT_TRUE(Settled().empty());

  // The next poll sends it again, with the same key, and this time the outcome sticks.
  clock_.AdvanceMs(FastOptions().poll_ms);
  ASSERT_TRUE(WaitFor([&] { return SettledCount("run-1:13") == 1; }));
  EXPECT_EQ(gateway_.calls("run-1:13"), 2);
  model::OutboxIntent row = Row("run-1:13");
  EXPECT_EQ(row.status, "delivered");
  EXPECT_EQ(row.attempts, 1);
  EXPECT_EQ(SettledCount("run-1:13"), 1);
}

TEST_F(OutboxDispatcherTest, StopCancelsCallsInFlightAndLeavesThemPending) {
  gateway_.Hold(true);
  Commit({Intent(14, "slow_tool"), Intent(15, "slow_tool")});
  StartDispatcher();
  ASSERT_TRUE(WaitFor([&] { return gateway_.held() == 2; }));
  // One answer came back before the stop: it is recorded. The other is cut short.
  gateway_.AnswerHeld(0, Ok("1"));
  ASSERT_TRUE(WaitFor([&] { return Settled().size() == 1; }));

  dispatcher_->Stop();
  std::string answered = gateway_.requests()[0].idempotency_key;
  std::string cut = gateway_.requests()[1].idempotency_key;
  EXPECT_TRUE(RowIs(answered, "delivered", 1));
  // Cancelled by the stop: not an attempt, still pending for the next start.
  EXPECT_TRUE(RowIs(cut, "pending", 0)) << Row(cut).status << " " << Row(cut).attempts;
  EXPECT_EQ(SettledCount(cut), 0);

  dispatcher_->Stop();  // twice is fine
  dispatcher_->Kick();  // and a kick after it sends nothing
  EXPECT_EQ(gateway_.requests().size(), 2u);

  // A new dispatcher (the next process) delivers what was left.
  gateway_.Hold(false);
  StartDispatcher();
  ASSERT_TRUE(WaitFor([&] { return SettledCount(cut) == 1; }));
  EXPECT_TRUE(RowIs(cut, "delivered", 1));
}

}  // namespace
}  // namespace keel::engine
