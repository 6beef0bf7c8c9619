// Budgets and sandbox limits on a real `keel serve`: deadlines (running and parked runs),
// max_steps, the per-slice instruction budget and the Lua memory limit. The server runs with a
// config file lowering [lua] max_instructions and max_memory_mb so the limits trip quickly.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "test/testing/server_process.h"
#include "test/testing/test_util.h"

namespace keel::testing {
namespace {

namespace json = boost::json;

class BudgetTest : public SharedServerTest {
 protected:
  static void SetUpTestSuite() {
    config_dir_ = ServerProcess::MakeTempDir("keel-budget-config-");
    std::string config = config_dir_ + "/keel.toml";
    std::ofstream(config) << "[lua]\nmax_instructions = 5000000\nmax_memory_mb = 16\n";
    StartServer({.workflows_dir = TestWorkflows(), .extra_args = {"--config", config}});
  }
  static void TearDownTestSuite() {
    StopServer();
    std::error_code ec;
    std::filesystem::remove_all(config_dir_, ec);
  }

  // The server still runs other work to completion.
  void ExpectServerStillWorks() {
    std::string id = Str(Submit(c_, {{"intent", "steps"}, {"payload", {{"n", 2}}}}), "/id");
    json::value done = WaitTerminal(c_, id);
    EXPECT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
    EXPECT_EQ(At(done, "/result/done"), json::value(2));
  }

  static std::string config_dir_;
};

std::string BudgetTest::config_dir_;

TEST_F(BudgetTest, DeadlineStopsASleepingRun) {
  std::string id = Str(Submit(c_, {{"intent", "sleeper"},
                                   {"budget", {{"deadline_ms", 300}}},
                                   {"payload", {{"duration", "10s"}}}}),
                       "/id");
  ASSERT_FALSE(id.empty());
  // Well before the 10 s sleep would end.
  json::value done = WaitTerminal(c_, id, 5'000);
  EXPECT_EQ(Str(done, "/status"), "timed_out") << json::serialize(done);
  EXPECT_EQ(Str(done, "/error/code"), "deadline_exceeded") << json::serialize(done);
  EXPECT_TRUE(At(done, "/deadline_at_ms").is_number()) << json::serialize(done);
  EXPECT_EQ(At(done, "/budget/deadline_ms"), json::value(300));
  EXPECT_TRUE(At(done, "/result").is_null());
}

TEST_F(BudgetTest, DeadlineStopsARunParkedOnASignal) {
  std::string id = Str(Submit(c_, {{"intent", "await_signal"},
                                   {"budget", {{"deadline_ms", 300}}},
                                   {"payload", {{"signal", "never"}}}}),
                       "/id");
  ASSERT_FALSE(id.empty());
  json::value done = WaitTerminal(c_, id, 5'000);
  EXPECT_EQ(Str(done, "/status"), "timed_out") << json::serialize(done);
  EXPECT_EQ(Str(done, "/error/code"), "deadline_exceeded") << json::serialize(done);
  // A late signal finds it finished.
  auto late = c_.Post("/v1/runs/" + id + "/signals/never", "{}");
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->status, 409) << late->body;
}

TEST_F(BudgetTest, MaxStepsStopsTheRunAtTheLimit) {
  std::string id = Str(
      Submit(c_, {{"intent", "steps"}, {"budget", {{"max_steps", 3}}}, {"payload", {{"n", 10}}}}),
      "/id");
  ASSERT_FALSE(id.empty());
  json::value done = WaitTerminal(c_, id);
  EXPECT_EQ(Str(done, "/status"), "budget_exhausted") << json::serialize(done);
  EXPECT_EQ(Str(done, "/error/code"), "budget_exhausted") << json::serialize(done);
  EXPECT_EQ(At(done, "/usage/steps"), json::value(3)) << json::serialize(done);
  json::array journal = Journal(c_, id);
  ASSERT_EQ(journal.size(), 3u) << json::serialize(journal);
  for (size_t i = 0; i < journal.size(); ++i) {
    EXPECT_EQ(Str(journal[i], "/kind"), "step");
    EXPECT_EQ(Str(journal[i], "/name"), "step-" + std::to_string(i + 1));
  }
}

TEST_F(BudgetTest, RunawayLoopHitsTheInstructionBudget) {
  std::string id = Str(Submit(c_, {{"intent", "runaway"}, {"payload", json::object()}}), "/id");
  ASSERT_FALSE(id.empty());
  json::value done = WaitTerminal(c_, id);
  EXPECT_EQ(Str(done, "/status"), "failed") << json::serialize(done);
  EXPECT_NE(Str(done, "/error/message").find("instruction budget"), std::string::npos)
      << json::serialize(done);
  ExpectServerStillWorks();
}

TEST_F(BudgetTest, MemoryHogHitsTheMemoryLimit) {
  std::string id = Str(Submit(c_, {{"intent", "memhog"}, {"payload", json::object()}}), "/id");
  ASSERT_FALSE(id.empty());
  json::value done = WaitTerminal(c_, id);
  EXPECT_EQ(Str(done, "/status"), "failed") << json::serialize(done);
  EXPECT_NE(Str(done, "/error/message").find("memory limit"), std::string::npos)
      << json::serialize(done);
  ExpectServerStillWorks();
}

}  // namespace
}  // namespace keel::testing
