#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <future>
#include <map>
#include <thread>

#include "engine/local_engine.h"
#include "store/sqlite/sqlite_store.h"

namespace keel::engine {
namespace {

using model::RunStatus;

// A real engine over a real SQLite file, with the workflows below.
class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/keel-engine-XXXXXX";
    dir_ = mkdtemp(tmpl);
    OpenStore();
    StartEngine();
  }
  void TearDown() override {
    StopEngine();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void OpenStore() {
    store::sqlite::SqliteOptions o;
    o.path = dir_ + "/keel.db";
    o.synchronous = "normal";
    o.metrics = &metrics_;
    auto s = store::sqlite::SqliteStore::Open(o);
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
  }
  void StartEngine(EngineOptions opts = {}) {
    lua::VmLimits limits;
    limits.max_instructions_per_slice = max_instructions_;
    registry_ = std::make_unique<WorkflowRegistry>(*store_, limits);
    for (const auto& [name, src] : workflows_)
      ASSERT_TRUE(registry_->Register(name, name + ".lua", src).ok());
    opts.vm = limits;
    engine_ = std::make_unique<LocalEngine>(opts, *store_, *registry_, SystemClock::Instance(),
                                            random_, metrics_);
    ASSERT_TRUE(engine_->Start().ok());
  }
  void StopEngine() {
    if (engine_) engine_->Drain(2000);
    engine_.reset();
  }

  Result<SubmitOutcome> Submit(const std::string& intent, const std::string& payload = "{}",
                               model::Budget budget = {}, const std::string& key = "") {
    model::Envelope env;
    env.intent = intent;
    env.payload_json = payload;
    env.budget = budget;
    env.idempotency_key = key;
    std::promise<Result<SubmitOutcome>> p;
    engine_->Submit(env, [&](Result<SubmitOutcome> r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }
  // Waits until the run is terminal (up to `ms`).
  model::RunRecord AwaitEnd(const std::string& id, int ms = 10'000) {
    std::promise<model::RunRecord> p;
    auto f = p.get_future();
    std::atomic<bool> once{false};
    auto w = engine_->OnTerminal(id, true, [&](const model::RunRecord& r) {
      if (!once.exchange(true)) p.set_value(r);
    });
    EXPECT_EQ(f.wait_for(std::chrono::milliseconds(ms)), std::future_status::ready) << id;
    engine_->Unwatch(w);
    return engine_->GetRun(id).value();
  }
  bool WaitStatus(const std::string& id, RunStatus s, int ms = 10'000) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < until) {
      if (engine_->GetRun(id)->status == s) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }
  Status SendSignal(const std::string& id, const std::string& name, const std::string& payload) {
    std::promise<Result<Ok>> p;
    engine_->Signal(id, name, payload, [&](Result<Ok> r) { p.set_value(std::move(r)); });
    auto r = p.get_future().get();
    if (!r) return r.error();
    return OkStatus();
  }
  uint64_t Counter(const std::string& name) { return metrics_.GetCounter(name, "").Value(); }

  int64_t max_instructions_ = 2'000'000;
  std::string dir_;
  obs::Registry metrics_;
  Random random_{1234};
  std::unique_ptr<store::sqlite::SqliteStore> store_;
  std::unique_ptr<WorkflowRegistry> registry_;
  std::unique_ptr<LocalEngine> engine_;
  std::map<std::string, std::string> workflows_{
      {"steps", R"(return function(ctx, input)
          local acc = 0
          for i = 1, (input.n or 3) do
            acc = ctx.step("s" .. i, function() return acc + i end)
          end
          return {acc = acc}
        end)"},
      {"waiter", R"(return function(ctx, input)
          local a = ctx.step("before", function() return 41 end)
          local sig, err = ctx.signal("go", {timeout = input.timeout})
          if err then return {timeout = true, a = a} end
          return {a = a, got = sig}
        end)"},
      {"sleeper", R"(return function(ctx, input)
          ctx.step("a", function() return 1 end)
          ctx.sleep(input.sleep or "10ms")
          return ctx.step("b", function() return 2 end)
        end)"},
      {"helpers", R"(return function(ctx)
          local t, r, u = ctx.now(), ctx.random(), ctx.uuid()
          ctx.emit({hello = "world"})
          return {t = t, r = r, u = u, i = ctx.interrupts()}
        end)"},
      {"boom", R"(return function(ctx) error("boom") end)"},
      // Parallel branches whose steps each take a short (resident) sleep, so that they finish
      // in an order of their own; a restart in the middle replays them.
      {"fan", R"(return function(ctx, input)
          local items = {}
          for i = 1, (input.n or 20) do items[i] = i end
          local out = ctx.map(items, function(i)
            local v = ctx.step("a", function() return i end)
            ctx.sleep((i % 3) * 5)
            return ctx.step("b", function() return v * 2 end)
          end, {concurrency = input.concurrency or 5})
          local sum = 0
          for _, v in ipairs(out) do sum = sum + v end
          return {sum = sum, n = #out}
        end)"},
      {"parent", R"(return function(ctx, input)
          local r = ctx.parallel({
            function() return ctx.run("steps", {n = 2}) end,
            function() return ctx.run("steps", {n = 3}) end,
          })
          return {a = r[1].acc, b = r[2].acc}
        end)"},
      {"catcher", R"(return function(ctx, input)
          ctx.compensate(function() ctx.step("undo", function() return true end) end, "undo")
          local ok = pcall(ctx.signal, "go")
          ctx.step("after", function() return 1 end)
          return {ok = ok}
        end)"},
      {"branch_errors", R"(return function(ctx, input)
          local ok, err = pcall(ctx.parallel, {
            function() ctx.sleep(150) error({code = "late", message = "branch 1"}) end,
            function() ctx.sleep(5) error({code = "early", message = "branch 2"}) end,
          })
          ctx.step("saw_" .. err.code, function() return err.code end)
          ctx.sleep(input.park or 1200)
          return err.code
        end)"},
      {"saga", R"(return function(ctx, input)
          ctx.step("one", function() return 1 end)
          ctx.compensate(function() ctx.step("undo_one", function() return true end) end, "undo_one")
          ctx.step("two", function() return 2 end)
          ctx.compensate(function() ctx.step("undo_two", function() return true end) end, "undo_two")
          local d = ctx.approval{step = "ok?", timeout = input.timeout, on_timeout = input.on_timeout}
          if not d.approved then error({code = "rejected", message = "not approved"}) end
          return d
        end)"},
      {"spin", R"(return function(ctx) while true do end end)"},
  };
};

TEST_F(EngineTest, RunsStepsAndJournalsThem) {
  auto sub = Submit("steps", R"({"n":4})");
  ASSERT_TRUE(sub.ok()) << sub.error().message;
  auto run = AwaitEnd(sub->run.id);
  EXPECT_EQ(run.status, RunStatus::kSucceeded);
  EXPECT_EQ(run.result_json, R"({"acc":10})");
  EXPECT_EQ(run.steps_used, 4);
  auto j = engine_->ReadJournal(run.id, 0, 100);
  ASSERT_EQ(j->size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ((*j)[i].seq, i + 1);
    EXPECT_EQ((*j)[i].name, "s" + std::to_string(i + 1));
  }
}

TEST_F(EngineTest, UnknownIntentNamesTheLoadedOnes) {
  auto sub = Submit("nope");
  ASSERT_FALSE(sub.ok());
  EXPECT_EQ(sub.error().code, Errc::kNotFound);
  EXPECT_NE(sub.error().message.find("steps"), std::string::npos);
}

TEST_F(EngineTest, IdempotentSubmitReturnsTheSameRun) {
  auto a = Submit("steps", "{}", {}, "key-1");
  auto b = Submit("steps", "{}", {}, "key-1");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->run.id, b->run.id);
  EXPECT_TRUE(b->existing);
  auto c = Submit("steps", R"({"n":2})", {}, "key-1");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, Errc::kConflict);
}

TEST_F(EngineTest, SignalWakesAParkedRunThatHoldsNoMemory) {
  auto sub = Submit("waiter");
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(WaitStatus(sub->run.id, RunStatus::kWaiting));
  EXPECT_EQ(engine_->GetRun(sub->run.id)->wait_reason, "signal:go");
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (engine_->State().active_runs != 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(engine_->State().active_runs, 0);  // parked: no Lua state resident
  ASSERT_TRUE(SendSignal(sub->run.id, "go", R"({"ok":true})").ok());
  auto run = AwaitEnd(sub->run.id);
  EXPECT_EQ(run.status, RunStatus::kSucceeded);
  EXPECT_EQ(run.result_json, R"({"a":41,"got":{"ok":true}})");
  EXPECT_GE(Counter("keel_replayed_entries_total"), 1u);  // "before" came from the journal
}

TEST_F(EngineTest, SignalTimeoutFires) {
  auto sub = Submit("waiter", R"({"timeout":"100ms"})");
  auto run = AwaitEnd(sub->run.id);
  EXPECT_EQ(run.result_json, R"({"a":41,"timeout":true})");
}

TEST_F(EngineTest, RestartResumesFromTheJournal) {
  auto sub = Submit("waiter");
  ASSERT_TRUE(WaitStatus(sub->run.id, RunStatus::kWaiting));
  StopEngine();
  StartEngine();
  ASSERT_TRUE(SendSignal(sub->run.id, "go", "7").ok());
  auto run = AwaitEnd(sub->run.id);
  EXPECT_EQ(run.status, RunStatus::kSucceeded);
  EXPECT_EQ(run.result_json, R"({"a":41,"got":7})");
  auto j = engine_->ReadJournal(run.id, 0, 100);
  ASSERT_EQ(j->size(), 2u);  // before, signal: nothing ran twice
}

TEST_F(EngineTest, ShortAndLongSleepsBothResume) {
  auto short_run = Submit("sleeper", R"({"sleep":"20ms"})");
  auto long_run = Submit("sleeper", R"({"sleep":"1200ms"})");
  ASSERT_TRUE(WaitStatus(long_run->run.id, RunStatus::kWaiting));
  EXPECT_EQ(engine_->GetRun(long_run->run.id)->wait_reason, "timer");
  EXPECT_EQ(AwaitEnd(short_run->run.id).result_json, "2");
  EXPECT_EQ(AwaitEnd(long_run->run.id).result_json, "2");
}

TEST_F(EngineTest, HelpersAreJournaledAndReplayedIdentically) {
  auto sub = Submit("helpers");
  auto run = AwaitEnd(sub->run.id);
  ASSERT_EQ(run.status, RunStatus::kSucceeded) << run.error_message;
  auto j = engine_->ReadJournal(run.id, 0, 100);
  ASSERT_EQ(j->size(), 5u);
  EXPECT_EQ(model::EntryKindName((*j)[0].kind), "now");
  EXPECT_EQ(model::EntryKindName((*j)[3].kind), "emit");
  EXPECT_EQ((*j)[3].result_json, R"({"hello":"world"})");
  EXPECT_NE(run.result_json.find((*j)[2].result_json), std::string::npos);  // the uuid
}

TEST_F(EngineTest, ScriptErrorFailsTheRunWithLocation) {
  auto run = AwaitEnd(Submit("boom")->run.id);
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_EQ(run.error_code, "script_error");
  EXPECT_NE(run.error_message.find("boom.lua:1: boom"), std::string::npos) << run.error_message;
}

TEST_F(EngineTest, RunawayScriptIsStoppedAndOthersGoOn) {
  auto spin = Submit("spin");
  auto ok = Submit("steps");
  EXPECT_EQ(AwaitEnd(ok->run.id).status, RunStatus::kSucceeded);
  auto run = AwaitEnd(spin->run.id);
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_NE(run.error_message.find("instruction budget"), std::string::npos);
}

TEST_F(EngineTest, DeadlineStopsABusyScriptAtOnce) {
  // "spin" never reaches a ctx call; only the deadline timer's interrupt can stop it before
  // the instruction budget does, and it must end timed_out, not failed.
  StopEngine();
  max_instructions_ = 1'000'000'000'000;  // the budget must not be what stops it
  StartEngine();
  auto sub = Submit("spin", "{}", {.deadline_ms = 50});
  auto run = AwaitEnd(sub->run.id);
  EXPECT_EQ(run.status, RunStatus::kTimedOut) << run.error_message;
}

TEST_F(EngineTest, DeadlineTimesOutAParkedRun) {
  auto sub = Submit("waiter", "{}", {.deadline_ms = 150});
  auto run = AwaitEnd(sub->run.id);
  EXPECT_EQ(run.status, RunStatus::kTimedOut);
  EXPECT_EQ(run.error_code, "deadline_exceeded");
}

TEST_F(EngineTest, DeadlineTimesOutASleepingResidentRun) {
  auto sub = Submit("sleeper", R"({"sleep":"900ms"})", {.deadline_ms = 100});
  auto run = AwaitEnd(sub->run.id);
  EXPECT_EQ(run.status, RunStatus::kTimedOut);
}

TEST_F(EngineTest, MaxStepsExhaustsTheBudget) {
  auto sub = Submit("steps", R"({"n":10})", {.max_steps = 3});
  auto run = AwaitEnd(sub->run.id);
  EXPECT_EQ(run.status, RunStatus::kBudgetExhausted);
  EXPECT_EQ(run.steps_used, 3);
  EXPECT_EQ(engine_->ReadJournal(run.id, 0, 100)->size(), 3u);
}

TEST_F(EngineTest, CancelStopsAParkedRun) {
  auto sub = Submit("waiter");
  ASSERT_TRUE(WaitStatus(sub->run.id, RunStatus::kWaiting));
  std::promise<Result<model::RunRecord>> p;
  engine_->Cancel(sub->run.id, false,
                  [&](Result<model::RunRecord> r) { p.set_value(std::move(r)); });
  auto r = p.get_future().get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, RunStatus::kCancelled);
  EXPECT_EQ(SendSignal(sub->run.id, "go", "1").error().code, Errc::kAlreadyFinished);
}

TEST_F(EngineTest, CancelStopsASleepingResidentRun) {
  auto sub = Submit("sleeper", R"({"sleep":"800ms"})");
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (engine_->ReadJournal(sub->run.id, 0, 10)->size() < 2 &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_EQ(engine_->ReadJournal(sub->run.id, 0, 10)->size(), 2u);  // a, sleep: now sleeping
  std::promise<Result<model::RunRecord>> p;
  engine_->Cancel(sub->run.id, false,
                  [&](Result<model::RunRecord> r) { p.set_value(std::move(r)); });
  ASSERT_TRUE(p.get_future().get().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // past the sleep's end
  auto run = engine_->GetRun(sub->run.id);
  EXPECT_EQ(run->status, RunStatus::kCancelled);
  EXPECT_EQ(engine_->ReadJournal(run->id, 0, 100)->size(), 2u);  // "b" never ran
}

TEST_F(EngineTest, ManyConcurrentRunsAllFinish) {
  std::vector<std::string> ids;
  for (int i = 0; i < 200; ++i) ids.push_back(Submit("steps", R"({"n":5})")->run.id);
  for (const auto& id : ids) {
    auto run = AwaitEnd(id);
    ASSERT_EQ(run.status, RunStatus::kSucceeded);
    EXPECT_EQ(run.result_json, R"({"acc":15})");
  }
}

TEST_F(EngineTest, JournalMismatchIsANonDeterminismError) {
  // A run of "steps" whose journal holds a step the code will not ask for first.
  auto code = registry_->Current("steps");
  store::AdmitRequest req;
  req.run.id = "nd-1";
  req.run.intent = "steps";
  req.run.tenant = "t";
  req.run.payload_json = "{}";
  req.run.code_hash = (*code)->code_hash;
  req.run.status = RunStatus::kRunning;
  req.run.lease_owner = "dead-node";
  req.run.lease_epoch = 1;
  req.run.created_at_ms = 1;
  req.payload_hash = "x";
  std::promise<void> admitted;
  store_->Admit(req, [&](auto) { admitted.set_value(); });
  admitted.get_future().wait();
  store::AppendRequest app;
  app.run_id = "nd-1";
  app.lease_owner = "dead-node";
  app.lease_epoch = 1;
  app.entries.push_back({"nd-1", 1, model::EntryKind::kStep, "other", "", "1", 0});
  std::promise<void> appended;
  store_->Append(app, [&](auto) { appended.set_value(); });
  appended.get_future().wait();
  StopEngine();
  StartEngine();  // takes over nd-1 and replays it
  auto run = AwaitEnd("nd-1");
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_EQ(run.error_code, "non_determinism");
  EXPECT_NE(run.error_message.find("step \"s1\""), std::string::npos) << run.error_message;
  EXPECT_NE(run.error_message.find("step \"other\""), std::string::npos);
}

TEST_F(EngineTest, ParallelBranchesJournalEachBranchAndReplayAfterARestart) {
  auto sub = Submit("fan", R"({"n":40,"concurrency":8})");
  ASSERT_TRUE(sub.ok());
  std::string id = sub->run.id;
  // Stop while branches are in flight, then let a new engine replay what was journaled.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  StopEngine();
  StartEngine();
  auto run = AwaitEnd(id);
  ASSERT_EQ(run.status, RunStatus::kSucceeded) << run.error_message;
  EXPECT_NE(run.result_json.find(R"("sum":1640)"), std::string::npos) << run.result_json;
  EXPECT_NE(run.result_json.find(R"("n":40)"), std::string::npos) << run.result_json;
  auto j = engine_->ReadJournal(id, 0, 1000);
  ASSERT_TRUE(j.ok());
  std::map<std::string, std::vector<std::string>> by_branch;
  for (const auto& e : *j) by_branch[e.branch].push_back(e.name);
  EXPECT_EQ(by_branch[""], (std::vector<std::string>{"map"}));
  EXPECT_EQ(by_branch.size(), 41u);
  for (int i = 1; i <= 40; ++i) {
    // Each branch did its work once, in its own order, whatever the interleaving.
    EXPECT_EQ(by_branch["1." + std::to_string(i)], (std::vector<std::string>{"a", "sleep", "b"}))
        << i;
  }
}

TEST_F(EngineTest, ChildRunsInBranchesReturnTheirResults) {
  auto sub = Submit("parent");
  ASSERT_TRUE(sub.ok());
  auto run = AwaitEnd(sub->run.id);
  ASSERT_EQ(run.status, RunStatus::kSucceeded) << run.error_message;
  EXPECT_EQ(run.result_json, R"({"a":3,"b":6})");
  EXPECT_EQ(run.steps_used, 5);  // the children's steps count for the parent
  auto children = store_->ListChildren(sub->run.id);
  ASSERT_TRUE(children.ok());
  ASSERT_EQ(children->size(), 2u);
  for (const auto& c : *children) EXPECT_EQ(c.status, RunStatus::kSucceeded);
}

TEST_F(EngineTest, ADeniedApprovalCompensatesInReverseOrder) {
  auto sub = Submit("saga", R"({"timeout":"50ms","on_timeout":"deny"})");
  ASSERT_TRUE(sub.ok());
  auto run = AwaitEnd(sub->run.id);
  EXPECT_EQ(run.status, RunStatus::kCompensated) << run.error_message;
  EXPECT_EQ(run.error_code, "rejected");
  EXPECT_EQ(
      run.result_json,
      R"({"compensated":["undo_two","undo_one"],"error":{"code":"rejected","message":"not approved"}})");
}

TEST_F(EngineTest, ApprovalDecidedByAPersonWakesTheParkedRun) {
  auto sub = Submit("saga");
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(WaitStatus(sub->run.id, RunStatus::kWaiting));
  store::ApprovalFilter f;
  f.run_id = sub->run.id;
  auto list = engine_->ListApprovals(f);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  std::promise<Result<store::ApprovalOutcome>> p;
  engine_->DecideApproval({.approval_id = (*list)[0].id, .decision = "approved", .who = "ana"},
                          [&](Result<store::ApprovalOutcome> r) { p.set_value(std::move(r)); });
  auto decided = p.get_future().get();
  ASSERT_TRUE(decided.ok()) << decided.error().message;
  auto run = AwaitEnd(sub->run.id);
  EXPECT_EQ(run.status, RunStatus::kSucceeded) << run.error_message;
  EXPECT_NE(run.result_json.find(R"("by":"ana")"), std::string::npos) << run.result_json;
}

TEST_F(EngineTest, CatchingACompensatingCancelDoesNotSaveTheRun) {
  auto sub = Submit("catcher");
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(WaitStatus(sub->run.id, RunStatus::kWaiting));
  std::promise<Result<model::RunRecord>> p;
  engine_->Cancel(sub->run.id, true, [&](Result<model::RunRecord> r) { p.set_value(r); });
  ASSERT_TRUE(p.get_future().get().ok());
  auto run = AwaitEnd(sub->run.id);
  EXPECT_EQ(run.status, RunStatus::kCompensated) << run.result_json;
  EXPECT_EQ(run.error_code, "cancelled");
  auto j = engine_->ReadJournal(sub->run.id, 0, 100);
  std::vector<std::string> names;
  for (const auto& e : *j)
    names.push_back(std::string(model::EntryKindName(e.kind)) + ":" + e.name);
  // The caught refusal, the refused step after it, then the undo step.
  EXPECT_EQ(names, (std::vector<std::string>{"error:cancelled", "error:cancelled", "step:undo"}));
}

TEST_F(EngineTest, TheErrorOfTheFirstFailedBranchIsRaisedWhateverFinishedFirst) {
  auto sub = Submit("branch_errors");
  ASSERT_TRUE(sub.ok());
  // It parks after the parallel call (1.2 s sleep) and replays on wake-up: same answer.
  auto run = AwaitEnd(sub->run.id);
  ASSERT_EQ(run.status, RunStatus::kSucceeded) << run.error_message;
  EXPECT_EQ(run.result_json, R"("late")");
}

TEST_F(EngineTest, DrainRefusesNewRuns) {
  engine_->SetDraining();
  auto sub = Submit("steps");
  ASSERT_FALSE(sub.ok());
  EXPECT_EQ(sub.error().code, Errc::kUnavailable);
}

}  // namespace
}  // namespace keel::engine
