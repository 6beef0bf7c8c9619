// Compensation (sagas) end to end: a real `keel serve` whose effect tools are delivered
// through the outbox to a real keel-llm-sim's /effects endpoints, which record every applied
// effect in order. saga_trip.lua books a flight (its tool declares compensate_with), books a
// hotel (undone by ctx.compensate), charges a card and confirms.

#include <gtest/gtest.h>

#include <boost/json.hpp>
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
using Names = std::vector<std::string>;

class SagaTest : public WorkflowServerTest {
 protected:
  static void SetUpTestSuite() { StartWorkflowServer(); }
  static void TearDownTestSuite() { StopWorkflowServer(); }

  void SetUp() override {
    SharedServerTest::SetUp();
    ASSERT_TRUE(sim_->Reset().ok());
  }

  std::string Trip(json::object payload) {
    return Str(Submit(c_, {{"intent", "saga_trip"}, {"payload", std::move(payload)}}), "/id");
  }

  static Names Strings(const json::value& v) {
    Names out;
    if (v.is_array())
      for (const auto& s : v.as_array()) out.emplace_back(s.as_string());
    return out;
  }
};

TEST_F(SagaTest, SuccessRunsNoUndoStep) {
  json::value done = WaitTerminal(c_, Trip({{"trip", "ok"}}));
  ASSERT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
  EXPECT_EQ(Effects(*sim_).Names(), (Names{"book_flight", "book_hotel"}));
}

TEST_F(SagaTest, FailureInStep3UndoesSteps2And1InReverseOrderOnceEach) {
  std::string id = Trip({{"trip", "t3"}, {"fail_at", 3}});
  json::value done = WaitTerminal(c_, id);
  ASSERT_EQ(Str(done, "/status"), "compensated") << json::serialize(done);
  EXPECT_EQ(Str(done, "/error/code"), "script_error");
  EXPECT_NE(Str(done, "/error/message").find("card declined"), std::string::npos);
  EXPECT_EQ(Strings(At(done, "/result/compensated")), (Names{"cancel_hotel", "cancel_flight"}));
  EffectLog log = Effects(*sim_);
  EXPECT_EQ(log.Names(), (Names{"book_flight", "book_hotel", "cancel_hotel", "cancel_flight"}));
  // The compensating tool got the original call's arguments and result.
  for (const auto& e : log.effects) {
    if (e.at("name") == "cancel_flight") {
      EXPECT_EQ(Str(json::value(e), "/args/args/trip"), "t3") << json::serialize(e);
      EXPECT_FALSE(At(json::value(e), "/args/result/effect_id").is_null()) << json::serialize(e);
    }
  }
  for (const auto& [key, n] : log.applied_by_key) EXPECT_EQ(n, 1) << key;
}

TEST_F(SagaTest, AnUndoStepThatFailsEndsCompensationFailedNamingIt) {
  json::value done = WaitTerminal(c_, Trip({{"trip", "t4"}, {"fail_at", 4}, {"fail_undo", true}}));
  ASSERT_EQ(Str(done, "/status"), "compensation_failed") << json::serialize(done);
  EXPECT_EQ(Str(done, "/error/code"), "compensation_failed");
  EXPECT_NE(Str(done, "/error/message").find("cancel_hotel"), std::string::npos)
      << Str(done, "/error/message");
  EXPECT_EQ(Str(done, "/result/failed_step"), "cancel_hotel");
  // Nothing after the failed undo step ran: a person takes over from here.
  EXPECT_EQ(Effects(*sim_).Names(), (Names{"book_flight", "book_hotel"}));
}

TEST_F(SagaTest, CancelWithCompensateUndoesWhatWasDone) {
  std::string id = Trip({{"trip", "c1"}, {"wait_for_approval", true}});
  WaitStatus(c_, id, "waiting");
  auto r = c_.Post("/v1/runs/" + id + "/cancel", R"({"compensate":true})");
  ASSERT_TRUE(r.ok());
  EXPECT_LT(r->status, 300) << r->body;
  json::value done = WaitTerminal(c_, id);
  ASSERT_EQ(Str(done, "/status"), "compensated") << json::serialize(done);
  EXPECT_EQ(Str(done, "/error/code"), "cancelled");
  EXPECT_EQ(Effects(*sim_).Names(),
            (Names{"book_flight", "book_hotel", "cancel_hotel", "cancel_flight"}));
}

TEST_F(SagaTest, PlainCancelDoesNotCompensate) {
  std::string id = Trip({{"trip", "c2"}, {"wait_for_approval", true}});
  WaitStatus(c_, id, "waiting");
  MustPost(c_, "/v1/runs/" + id + "/cancel", "");
  EXPECT_EQ(Str(WaitTerminal(c_, id), "/status"), "cancelled");
  EXPECT_EQ(Effects(*sim_).Names(), (Names{"book_flight", "book_hotel"}));
}

}  // namespace
}  // namespace keel::testing
