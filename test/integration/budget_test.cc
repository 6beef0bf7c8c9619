// Budgets and sandbox limits on a real `keel serve`: deadlines (running and parked runs),
// max_steps, the per-slice instruction budget and the Lua memory limit. The server runs with a
// config file lowering [lua] max_instructions and max_memory_mb so the limits trip quickly.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "test/testing/server_process.h"

namespace keel::testing {
namespace {

namespace json = boost::json;
using client::HttpClient;
using client::Response;

constexpr int kRunTimeoutMs = 20'000;

std::string TestWorkflows() { return ServerProcess::SourceDir() + "/test/integration/workflows"; }

json::value Parse(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  EXPECT_FALSE(ec) << "not JSON: " << text;
  return ec ? json::value() : v;
}

json::value At(const json::value& v, std::string_view pointer) {
  boost::system::error_code ec;
  const json::value* found = v.find_pointer(pointer, ec);
  return found ? *found : json::value();
}

std::string Str(const json::value& v, std::string_view pointer) {
  json::value f = At(v, pointer);
  return f.is_string() ? std::string(f.get_string()) : std::string();
}

bool IsTerminal(const std::string& s) {
  return s == "succeeded" || s == "failed" || s == "cancelled" || s == "timed_out" ||
         s == "budget_exhausted";
}

class BudgetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    config_dir_ = ServerProcess::MakeTempDir("keel-budget-config-");
    std::string config = config_dir_ + "/keel.toml";
    std::ofstream(config) << "[lua]\nmax_instructions = 5000000\nmax_memory_mb = 16\n";
    server_ = new ServerProcess(ServerProcess::Options{.workflows_dir = TestWorkflows(),
                                                       .extra_args = {"--config", config}});
    Status st = server_->Start();
    ASSERT_TRUE(st.ok()) << st.error().message;
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    std::error_code ec;
    std::filesystem::remove_all(config_dir_, ec);
  }
  void SetUp() override { ASSERT_TRUE(server_ && server_->running()) << "server did not start"; }
  void TearDown() override {
    if (HasFailure()) std::cerr << "server log " << server_->current_log() << "\n";
  }

  // Submits without waiting; returns the run id.
  std::string Submit(const json::object& envelope) {
    auto r = c_.Post("/v1/runs", json::serialize(envelope));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    if (!r.ok()) return {};
    EXPECT_TRUE(r->status == 200 || r->status == 202) << r->body;
    return Str(Parse(r->body), "/id");
  }

  json::value GetRun(const std::string& id) {
    auto r = c_.Get("/v1/runs/" + id);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? Parse(r->body) : json::value();
  }

  json::value WaitTerminal(const std::string& id, int timeout_ms = kRunTimeoutMs) {
    json::value last;
    bool ok = WaitFor(
        [&] {
          last = GetRun(id);
          return IsTerminal(Str(last, "/status"));
        },
        timeout_ms);
    EXPECT_TRUE(ok) << "run " << id << " did not end within " << timeout_ms
                    << " ms; last: " << json::serialize(last);
    return last;
  }

  json::array Journal(const std::string& id) {
    auto r = c_.Get("/v1/runs/" + id + "/journal");
    EXPECT_TRUE(r.ok() && r->status == 200);
    json::value entries = r.ok() ? At(Parse(r->body), "/entries") : json::value();
    return entries.is_array() ? entries.get_array() : json::array();
  }

  // The server still runs other work to completion.
  void ExpectServerStillWorks() {
    std::string id = Submit({{"intent", "steps"}, {"payload", {{"n", 2}}}});
    json::value done = WaitTerminal(id);
    EXPECT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
    EXPECT_EQ(At(done, "/result/done"), json::value(2));
  }

  static std::string config_dir_;
  static ServerProcess* server_;
  HttpClient c_ = server_ ? server_->Client() : HttpClient("127.0.0.1", 1);
};

std::string BudgetTest::config_dir_;
ServerProcess* BudgetTest::server_ = nullptr;

TEST_F(BudgetTest, DeadlineStopsASleepingRun) {
  std::string id = Submit({{"intent", "sleeper"},
                           {"budget", {{"deadline_ms", 300}}},
                           {"payload", {{"duration", "10s"}}}});
  ASSERT_FALSE(id.empty());
  // Well before the 10 s sleep would end.
  json::value done = WaitTerminal(id, 5'000);
  EXPECT_EQ(Str(done, "/status"), "timed_out") << json::serialize(done);
  EXPECT_EQ(Str(done, "/error/code"), "deadline_exceeded") << json::serialize(done);
  EXPECT_TRUE(At(done, "/deadline_at_ms").is_number()) << json::serialize(done);
  EXPECT_EQ(At(done, "/budget/deadline_ms"), json::value(300));
  EXPECT_TRUE(At(done, "/result").is_null());
}

TEST_F(BudgetTest, DeadlineStopsARunParkedOnASignal) {
  std::string id = Submit({{"intent", "await_signal"},
                           {"budget", {{"deadline_ms", 300}}},
                           {"payload", {{"signal", "never"}}}});
  ASSERT_FALSE(id.empty());
  json::value done = WaitTerminal(id, 5'000);
  EXPECT_EQ(Str(done, "/status"), "timed_out") << json::serialize(done);
  EXPECT_EQ(Str(done, "/error/code"), "deadline_exceeded") << json::serialize(done);
  // A late signal finds it finished.
  auto late = c_.Post("/v1/runs/" + id + "/signals/never", "{}");
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->status, 409) << late->body;
}

TEST_F(BudgetTest, MaxStepsStopsTheRunAtTheLimit) {
  std::string id =
      Submit({{"intent", "steps"}, {"budget", {{"max_steps", 3}}}, {"payload", {{"n", 10}}}});
  ASSERT_FALSE(id.empty());
  json::value done = WaitTerminal(id);
  EXPECT_EQ(Str(done, "/status"), "budget_exhausted") << json::serialize(done);
  EXPECT_EQ(Str(done, "/error/code"), "budget_exhausted") << json::serialize(done);
  EXPECT_EQ(At(done, "/usage/steps"), json::value(3)) << json::serialize(done);
  json::array journal = Journal(id);
  ASSERT_EQ(journal.size(), 3u) << json::serialize(journal);
  for (size_t i = 0; i < journal.size(); ++i) {
    EXPECT_EQ(Str(journal[i], "/kind"), "step");
    EXPECT_EQ(Str(journal[i], "/name"), "step-" + std::to_string(i + 1));
  }
}

TEST_F(BudgetTest, RunawayLoopHitsTheInstructionBudget) {
  std::string id = Submit({{"intent", "runaway"}, {"payload", json::object()}});
  ASSERT_FALSE(id.empty());
  json::value done = WaitTerminal(id);
  EXPECT_EQ(Str(done, "/status"), "failed") << json::serialize(done);
  EXPECT_NE(Str(done, "/error/message").find("instruction budget"), std::string::npos)
      << json::serialize(done);
  ExpectServerStillWorks();
}

TEST_F(BudgetTest, MemoryHogHitsTheMemoryLimit) {
  std::string id = Submit({{"intent", "memhog"}, {"payload", json::object()}});
  ASSERT_FALSE(id.empty());
  json::value done = WaitTerminal(id);
  EXPECT_EQ(Str(done, "/status"), "failed") << json::serialize(done);
  EXPECT_NE(Str(done, "/error/message").find("memory limit"), std::string::npos)
      << json::serialize(done);
  ExpectServerStillWorks();
}

}  // namespace
}  // namespace keel::testing
