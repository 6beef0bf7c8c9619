#include "model/json.h"

#include <gtest/gtest.h>

namespace keel::model {
namespace {

Result<Envelope> Parse(std::string_view text) {
  auto v = ParseJson(text);
  if (!v) return v.error();
  return EnvelopeFromJson(*v);
}

TEST(Envelope, AcceptsTheFullEnvelope) {
  auto env = Parse(R"({"run_id":"r-1","intent":"triage","caller":{"tenant":"acme","user":"u1"},
      "budget":{"deadline_ms":15000,"max_steps":10,"max_tokens":5},"idempotency_key":"k:1",
      "correlation_id":"c","payload":{"ticket":"ABC"}})");
  ASSERT_TRUE(env.ok()) << env.error().message;
  EXPECT_EQ(env->run_id, "r-1");
  EXPECT_EQ(env->intent, "triage");
  EXPECT_EQ(env->tenant, "acme");
  EXPECT_EQ(env->user, "u1");
  EXPECT_EQ(env->budget.deadline_ms, 15000);
  EXPECT_EQ(env->budget.max_steps, 10);
  EXPECT_EQ(env->idempotency_key, "k:1");
  EXPECT_EQ(env->payload_json, R"({"ticket":"ABC"})");
}

TEST(Envelope, DefaultsTenantAndPayload) {
  auto env = Parse(R"({"intent":"hello"})");
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(env->tenant, "default");
  EXPECT_EQ(env->payload_json, "{}");
}

TEST(Envelope, NamesTheBadField) {
  struct Case {
    const char* body;
    const char* field;
  } cases[] = {
      {R"([1,2])", "body"},
      {R"({})", "intent"},
      {R"({"intent":""})", "intent"},
      {R"({"intent":"a b"})", "intent"},
      {R"({"intent":"x","budget":{"deadline_ms":-1}})", "budget.deadline_ms"},
      {R"({"intent":"x","budget":{"max_steps":"ten"}})", "budget.max_steps"},
      {R"({"intent":"x","budget":{"max_stepz":1}})", "budget.max_stepz"},
      {R"({"intent":"x","budget":7})", "budget"},
      {R"({"intent":"x","caller":{"tenant":5}})", "caller.tenant"},
      {R"({"intent":"x","nope":1})", "nope"},
      {R"({"intent":"x","idempotency_key":3})", "idempotency_key"},
  };
  for (const auto& c : cases) {
    auto env = Parse(c.body);
    ASSERT_FALSE(env.ok()) << c.body;
    EXPECT_EQ(env.error().code, Errc::kInvalidArgument);
    EXPECT_EQ(env.error().message.rfind(std::string(c.field) + ":", 0), 0u)
        << c.body << " -> " << env.error().message;
  }
}

TEST(Json, LimitsDepthAndSize) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  auto r = ParseJson(deep, {.max_bytes = 1 << 20, .max_depth = 64});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("nesting"), std::string::npos);
  auto big = ParseJson(std::string(2000, ' '), {.max_bytes = 1000, .max_depth = 64});
  ASSERT_FALSE(big.ok());
  EXPECT_FALSE(ParseJson("{\"a\":").ok());
}

TEST(Json, RunToJsonShowsErrorOnlyWhenSet) {
  RunRecord r;
  r.id = "x";
  r.status = RunStatus::kFailed;
  r.error_code = "script_error";
  r.error_message = "boom";
  r.payload_json = "{\"a\":1}";
  auto o = RunToJson(r);
  EXPECT_EQ(o["status"].as_string(), "failed");
  EXPECT_EQ(o["error"].as_object().at("code").as_string(), "script_error");
  EXPECT_EQ(o["payload"].as_object().at("a").as_int64(), 1);
}

TEST(Status, NamesRoundTrip) {
  for (auto s : {RunStatus::kQueued, RunStatus::kRunning, RunStatus::kWaiting,
                 RunStatus::kSucceeded, RunStatus::kFailed, RunStatus::kCancelled,
                 RunStatus::kTimedOut, RunStatus::kBudgetExhausted}) {
    EXPECT_EQ(ParseStatus(StatusName(s)), s);
  }
  EXPECT_FALSE(ParseStatus("bogus"));
}

}  // namespace
}  // namespace keel::model
