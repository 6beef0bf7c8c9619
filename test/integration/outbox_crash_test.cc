// The transactional outbox under SIGKILL at every boundary: after the intent commit, after the
// HTTP request was sent but before its outcome was recorded, and inside the outcome's commit.
// A real `keel serve` kills itself at a named failpoint (KEEL_FAILPOINTS), restarts, and the
// receiving services in keel-llm-sim show that each intent took effect exactly once where the
// service honours Idempotency-Key, and at most once more where it does not (the documented
// duplicate of a delivery whose outcome was lost).

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "test/testing/server_process.h"
#include "test/testing/sim_process.h"
#include "test/testing/test_util.h"
#include "test/testing/workflow_env.h"

namespace keel::testing {
namespace {

namespace json = boost::json;

// Where the server dies ("name@N": the N-th time; the run first delivers `pay` to the service
// that honours keys, then `pay_naive` to the one that does not), and what each service must
// have received.
struct Crash {
  std::string failpoint;
  int64_t pay_requests;   // deliveries of `pay` (a second one is a redelivery)
  int64_t naive_applied;  // effects the key-ignoring service applied
};

void PrintTo(const Crash& c, std::ostream* os) { *os << c.failpoint; }

class OutboxCrashTest : public ::testing::TestWithParam<Crash> {
 protected:
  void SetUp() override {
    dir_ = ServerProcess::MakeTempDir("keel-outbox-crash-");
    sim_ = std::make_unique<SimProcess>(SimProcess::Options{.log_dir = dir_});
    ASSERT_TRUE(sim_->Start().ok());
    config_ = dir_ + "/keel.toml";
    std::ofstream(config_) << WorkflowConfig(*sim_, R"(
[tools.flaky]
kind = "http"
url = "http://127.0.0.1:1/unreachable"
effect = true
outbox_max_attempts = 2
retry = { max_attempts = 1 }
)");
    server_ = std::make_unique<ServerProcess>(
        ServerProcess::Options{.data_dir = dir_ + "/data",
                               .workflows_dir = TestWorkflows(),
                               .extra_args = {"--config", config_}});
  }

  void TearDown() override {
    server_.reset();
    sim_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string dir_, config_;
  std::unique_ptr<SimProcess> sim_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_P(OutboxCrashTest, EachIntentTakesEffectOnce) {
  const Crash& crash = GetParam();
  ::setenv("KEEL_FAILPOINTS", crash.failpoint.c_str(), 1);
  Status started = server_->Start();
  ::unsetenv("KEEL_FAILPOINTS");
  ASSERT_TRUE(started.ok()) << started.error().message;
  auto c = server_->Client();
  std::string id =
      Str(Submit(c, {{"intent", "effect_once"}, {"payload", {{"amount", 25}}}}), "/id");
  auto exited = server_->WaitExit(kRunTimeoutMs);
  ASSERT_TRUE(exited.ok()) << "failpoint " << crash.failpoint << " was not reached";
  EXPECT_EQ(*exited, -9);

  ASSERT_TRUE(server_->Start().ok());
  auto c2 = server_->Client();
  json::value done = WaitTerminal(c2, id);
  ASSERT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done) << server_->Logs();

  EffectLog log = Effects(*sim_);
  std::string pay_key = id + ":1";  // the first entry of the run is the pay intent
  // Exactly once where keys are honoured, even when the intent was delivered twice.
  EXPECT_EQ(log.Applied("pay"), 1);
  EXPECT_EQ(log.applied_by_key[pay_key], 1) << "key " << pay_key;
  EXPECT_EQ(log.requests_by_key[pay_key], crash.pay_requests) << "key " << pay_key;
  // Where they are not: once more only when the kill lost a delivery's outcome.
  EXPECT_EQ(log.Applied("pay_naive"), crash.naive_applied);
  // Both intents are recorded as delivered, with their keys.
  json::value outbox = Parse(MustGet(c2, "/v1/outbox?run_id=" + id).body);
  int delivered = 0;
  json::value intents = At(outbox, "/intents");
  for (const auto& i : intents.as_array()) {
    delivered += Str(i, "/status") == "delivered";
  }
  EXPECT_EQ(delivered, 2) << json::serialize(outbox);
}

INSTANTIATE_TEST_SUITE_P(Failpoints, OutboxCrashTest,
                         ::testing::Values(Crash{"outbox.after_intent_commit", 1, 1},
                                           Crash{"outbox.after_send", 2, 1},
                                           Crash{"store.outbox_outcome_commit", 2, 1},
                                           Crash{"outbox.after_intent_commit@2", 1, 1},
                                           Crash{"outbox.after_send@2", 1, 2},
                                           Crash{"store.outbox_outcome_commit@2", 1, 2}),
                         [](const auto& info) {
                           std::string n = info.param.failpoint;
                           for (char& ch : n)
                             if (ch == '.' || ch == '@') ch = '_';
                           return n;
                         });

TEST_F(OutboxCrashTest, AnIntentThatKeepsFailingFailsTheStepAndStaysVisible) {
  ASSERT_TRUE(server_->Start().ok());
  auto c = server_->Client();
  std::string id = Str(Submit(c, {{"intent", "effect_flaky"}, {"payload", json::object()}}), "/id");
  json::value done = WaitTerminal(c, id);
  ASSERT_EQ(Str(done, "/status"), "failed") << json::serialize(done);
  EXPECT_EQ(Str(done, "/error/code"), "effect_failed") << json::serialize(done);
  json::value outbox = Parse(MustGet(c, "/v1/outbox?status=failed&run_id=" + id).body);
  ASSERT_EQ(At(outbox, "/intents").as_array().size(), 1u) << json::serialize(outbox);
  EXPECT_EQ(At(outbox, "/intents/0/attempts"), json::value(2));
  EXPECT_EQ(Str(outbox, "/intents/0/target"), "flaky");
}

}  // namespace
}  // namespace keel::testing
