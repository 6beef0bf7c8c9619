// Composition end to end against a real `keel serve` and keel-llm-sim: child runs (budgets
// carved from the parent, a parent cancel reaching its children), ctx.parallel / ctx.map
// (100 effects with a SIGKILL in the middle: each effect once), ctx.quorum with scripted
// models, and step timeouts a workflow can catch.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "test/testing/server_process.h"
#include "test/testing/sim_process.h"
#include "test/testing/test_util.h"
#include "test/testing/workflow_env.h"

namespace keel::testing {
namespace {

namespace json = boost::json;

// Three voters: two agree (modulo case and spaces) on the capital, nobody on the colour.
constexpr const char* kVoters = R"({
  "rules": [
    {"when": {"model": "voter-a", "last_user_contains": "capital"}, "reply": {"content": "Paris"}},
    {"when": {"model": "voter-b", "last_user_contains": "capital"}, "reply": {"content": " paris "}},
    {"when": {"model": "voter-c", "last_user_contains": "capital"}, "reply": {"content": "Lyon"}},
    {"when": {"model": "voter-a", "last_user_contains": "colour"}, "reply": {"content": "red"}},
    {"when": {"model": "voter-b", "last_user_contains": "colour"}, "reply": {"content": "blue"}},
    {"when": {"model": "voter-c", "last_user_contains": "colour"}, "reply": {"content": "green"}},
    {"when": {"last_user_contains": "pay the invoice", "last_role": "user"},
     "reply": {"tool_calls": [{"name": "pay", "arguments": {"amount": 42}},
                              {"name": "sleep", "arguments": {"ms": 1}}]}},
    {"when": {"last_role": "tool", "tool_name": "sleep"}, "reply": {"content": "Paid."}}
  ],
  "default": "echo"
})";

class CompositionTest : public WorkflowServerTest {
 protected:
  static void SetUpTestSuite() {
    StartWorkflowServer(R"(
[agents.payer]
model = "default"
tools = ["pay", "sleep"]
)");
  }
  static void TearDownTestSuite() { StopWorkflowServer(); }

  void SetUp() override {
    SharedServerTest::SetUp();
    ASSERT_TRUE(sim_->SetFaults("{}").ok());
    ASSERT_TRUE(sim_->LoadScenario(kVoters).ok());
    ASSERT_TRUE(sim_->Reset().ok());
  }

  // Ids of the child runs a run started, from its journal.
  std::vector<std::string> Children(const std::string& id) {
    std::vector<std::string> out;
    for (const auto& e : Journal(c_, id)) {
      if (Str(e, "/kind") == "child") out.push_back(Str(e, "/result/run_id"));
    }
    return out;
  }
};

TEST_F(CompositionTest, CancellingTheParentCancelsItsChildren) {
  std::string id = Str(Submit(c_, {{"intent", "fan_out"}, {"payload", json::object()}}), "/id");
  std::vector<std::string> children;
  ASSERT_TRUE(WaitFor(
      [&] {
        children = Children(id);
        if (children.size() != 2) return false;
        for (const auto& c : children)
          if (Str(GetRun(c_, c), "/status") != "waiting") return false;
        return true;
      },
      kRunTimeoutMs));
  for (const auto& c : children) EXPECT_EQ(Str(GetRun(c_, c), "/parent_run_id"), id);
  MustPost(c_, "/v1/runs/" + id + "/cancel", "");
  EXPECT_EQ(Str(WaitTerminal(c_, id), "/status"), "cancelled");
  for (const auto& c : children) {
    json::value child = WaitTerminal(c_, c);
    EXPECT_EQ(Str(child, "/status"), "cancelled") << json::serialize(child);
    EXPECT_EQ(Str(child, "/error/code"), "parent_cancelled") << json::serialize(child);
  }
}

TEST_F(CompositionTest, ChildBudgetIsCarvedFromWhatTheParentHasLeft) {
  // The parent may take 3 steps and has taken 1: the child gets 2 and needs 5.
  std::string id = Str(Submit(c_, {{"intent", "child_budget"},
                                   {"budget", {{"max_steps", 3}}},
                                   {"payload", {{"child_steps", 5}}}}),
                       "/id");
  json::value done = WaitTerminal(c_, id);
  ASSERT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
  EXPECT_EQ(At(done, "/result/ok"), json::value(false));
  EXPECT_EQ(Str(done, "/result/code"), "child_failed");
  std::vector<std::string> children = Children(id);
  ASSERT_EQ(children.size(), 1u);
  json::value child = GetRun(c_, children[0]);
  EXPECT_EQ(Str(child, "/status"), "budget_exhausted") << json::serialize(child);
  EXPECT_EQ(At(child, "/budget/max_steps"), json::value(2)) << json::serialize(child);

  // Enough left: the child's result comes back.
  std::string ok =
      Str(Submit(c_, {{"intent", "child_budget"}, {"payload", {{"child_steps", 2}}}}), "/id");
  json::value fine = WaitTerminal(c_, ok);
  EXPECT_EQ(At(fine, "/result/ok"), json::value(true)) << json::serialize(fine);
}

TEST_F(CompositionTest, QuorumReturnsTheAnswerTwoVotersAgreeOn) {
  std::string id = Str(Submit(c_, {{"intent", "quorum_vote"},
                                   {"payload", {{"question", "What is the capital of France?"}}}}),
                       "/id");
  json::value done = WaitTerminal(c_, id);
  ASSERT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
  EXPECT_EQ(At(done, "/result/agreed"), json::value(true)) << json::serialize(done);
  EXPECT_EQ(Str(done, "/result/answer"), "Paris");
  EXPECT_EQ(At(done, "/result/votes"), json::value(2));
  // All three were asked, each once, in parallel branches.
  int llm = 0;
  std::set<std::string> branches;
  for (const auto& e : Journal(c_, id)) {
    if (Str(e, "/kind") != "llm") continue;
    llm++;
    branches.insert(Str(e, "/branch"));
  }
  EXPECT_EQ(llm, 3);
  EXPECT_EQ(branches, (std::set<std::string>{"1.1", "1.2", "1.3"}));
}

TEST_F(CompositionTest, QuorumWithoutAgreementSaysSo) {
  std::string id = Str(Submit(c_, {{"intent", "quorum_vote"},
                                   {"payload", {{"question", "What is your favourite colour?"}}}}),
                       "/id");
  json::value done = WaitTerminal(c_, id);
  ASSERT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
  EXPECT_EQ(At(done, "/result/agreed"), json::value(false)) << json::serialize(done);
  EXPECT_EQ(At(done, "/result/votes"), json::value(1));
  EXPECT_TRUE(At(done, "/result/answer").is_null());
}

TEST_F(CompositionTest, AnAgentsEffectToolGoesThroughTheOutbox) {
  std::string id =
      Str(Submit(c_, {{"intent", "payer"}, {"payload", {{"message", "Please pay the invoice"}}}}),
          "/id");
  json::value done = WaitTerminal(c_, id);
  ASSERT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
  EXPECT_EQ(Str(done, "/result/answer"), "Paid.");
  EffectLog log = Effects(*sim_);
  EXPECT_EQ(log.Names(), (std::vector<std::string>{"pay"}));
  EXPECT_EQ(At(json::value(log.effects.at(0)), "/args/amount"), json::value(42));
  std::vector<std::string> kinds;
  for (const auto& e : Journal(c_, id)) {
    std::string k = Str(e, "/kind");
    if (k == "outbox" || k == "tool") kinds.push_back(k + ":" + Str(e, "/name"));
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"tool:sleep", "outbox:pay", "tool:pay"}));
}

TEST_F(CompositionTest, AStepTimeoutIsAnErrorTheWorkflowCanCatch) {
  std::string id = Str(
      Submit(c_, {{"intent", "step_timeout"}, {"payload", {{"ms", 3000}, {"timeout", "200ms"}}}}),
      "/id");
  json::value done = WaitTerminal(c_, id);
  ASSERT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
  EXPECT_EQ(At(done, "/result/timed_out"), json::value(true));
  EXPECT_EQ(Str(done, "/result/code"), "step_timeout");
}

// 100 items, each applying one effect through the outbox, 8 at a time; the server is killed
// in the middle. After the restart only unfinished branches run again, and the receiving
// service saw each item's intent take effect exactly once.
TEST(ParallelCrashTest, MapOf100ItemsWithACrashAppliesEachEffectOnce) {
  std::string dir = ServerProcess::MakeTempDir("keel-parallel-crash-");
  SimProcess sim({.log_dir = dir});
  ASSERT_TRUE(sim.Start().ok());
  std::string config = dir + "/keel.toml";
  std::ofstream(config) << WorkflowConfig(sim);
  ServerProcess server({.data_dir = dir + "/data",
                        .workflows_dir = TestWorkflows(),
                        .extra_args = {"--config", config}});
  ASSERT_TRUE(server.Start().ok());
  auto c = server.Client();
  std::string id = Str(
      Submit(c, {{"intent", "effect_map"}, {"payload", {{"n", 100}, {"concurrency", 8}}}}), "/id");
  ASSERT_TRUE(WaitFor([&] { return Effects(sim).Applied("apply_item") >= 30; }, kRunTimeoutMs));
  server.Kill();
  int64_t before = Effects(sim).Applied("apply_item");
  EXPECT_LT(before, 100) << "the run finished before the kill; the test proves nothing";

  ASSERT_TRUE(server.Start().ok());
  auto c2 = server.Client();
  json::value done = WaitTerminal(c2, id, 60'000);
  ASSERT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done) << server.Logs();
  EXPECT_EQ(At(done, "/result/applied"), json::value(100));
  EffectLog log = Effects(sim);
  EXPECT_EQ(log.Applied("apply_item"), 100);
  std::set<std::string> items;
  for (const auto& e : log.effects) {
    if (e.at("name") == "apply_item")
      items.insert(json::serialize(At(json::value(e), "/args/item")));
  }
  EXPECT_EQ(items.size(), 100u);
  for (const auto& [key, n] : log.applied_by_key) EXPECT_EQ(n, 1) << key;
  // Branch work that had finished before the kill was not redone: one outcome per item.
  int outcomes = 0;
  for (const auto& e : Journal(c2, id)) {
    if (Str(e, "/kind") == "tool" && Str(e, "/name") == "apply_item") outcomes++;
  }
  EXPECT_EQ(outcomes, 100);
  server.Kill();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace keel::testing
