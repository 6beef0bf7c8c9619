// The model half of the gateway against the real LLM simulator over HTTP: retries, Retry-After,
// fallback, breakers, spend limits, malformed and stalled responses, streaming, cancellation
// and deadlines, each checked against what the simulator says it received.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/random.h"
#include "gateway/local_gateway.h"
#include "observability/metrics.h"
#include "test/testing/sim_process.h"

namespace keel::gateway {
namespace {

namespace json = boost::json;
using keel::testing::SimProcess;

constexpr int kWaitMs = 20'000;

// Collects one call's result; fails the test when `done` runs twice or not in time.
class Waiter {
 public:
  std::function<void(ModelCallResult)> Done() {
    return [this](ModelCallResult r) {
      std::lock_guard lock(mu_);
      ++calls_;
      result_ = std::move(r);
      cv_.notify_all();
    };
  }
  ModelCallResult Wait() {
    std::unique_lock lock(mu_);
    bool got = cv_.wait_for(lock, std::chrono::milliseconds(kWaitMs), [&] { return calls_ > 0; });
    EXPECT_TRUE(got) << "the call did not finish within " << kWaitMs << " ms";
    EXPECT_EQ(calls_, 1) << "done must run exactly once";
    return result_.value_or(ModelCallResult{});
  }
  bool finished() {
    std::lock_guard lock(mu_);
    return calls_ > 0;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int calls_ = 0;
  std::optional<ModelCallResult> result_;
};

std::string Describe(const ModelCallResult& r) {
  std::string s = r.ok ? "ok from " + r.model : r.error_code + ": " + r.message;
  for (const auto& a : r.attempts) s += "\n  " + json::serialize(AttemptToJson(a));
  return s;
}

json::object UserRequest(const std::string& text) {
  return json::object{{"messages", json::array{json::object{{"role", "user"}, {"content", text}}}}};
}

class ModelCallerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    sim_ = new SimProcess();
    Status st = sim_->Start();
    ASSERT_TRUE(st.ok()) << st.error().message;
  }
  static void TearDownTestSuite() {
    delete sim_;
    sim_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(sim_, nullptr);
    ASSERT_TRUE(sim_->running()) << sim_->Logs();
    ASSERT_TRUE(sim_->SetFaults("{}").ok());
    ASSERT_TRUE(sim_->Reset().ok());

    ProviderConfig sim{.name = "sim", .kind = "openai", .base_url = sim_->openai_base_url()};
    sim.timeout_ms = 5'000;
    sim.idle_timeout_ms = 5'000;
    sim.retry = RetryPolicy{.max_attempts = 3, .base_backoff_ms = 20, .max_backoff_ms = 100};
    // Breakers stay out of the way unless a test asks for them.
    sim.breaker = BreakerPolicy{
        .window_ms = 10'000, .min_requests = 1000, .failure_rate = 0.5, .open_ms = 300};
    ProviderConfig anth = sim;
    anth.name = "anth";
    anth.kind = "anthropic";
    anth.base_url = sim_->base_url() + "/v1";
    config_.providers = {{"sim", sim}, {"anth", anth}};
    config_.models = {
        {"sim-a", ModelConfig{.name = "sim-a",
                              .provider = "sim",
                              .input_usd_per_mtok = 3,
                              .output_usd_per_mtok = 15,
                              .max_output_tokens = 256}},
        {"sim-b", ModelConfig{.name = "sim-b",
                              .provider = "sim",
                              .input_usd_per_mtok = 0.5,
                              .output_usd_per_mtok = 1.5}},
        {"claude", ModelConfig{.name = "claude",
                               .provider = "anth",
                               .model_id = "claude-sim",
                               .input_usd_per_mtok = 1,
                               .output_usd_per_mtok = 5}},
    };
    config_.chains = {{"default", ChainConfig{"default", {"sim-a", "sim-b"}}}};
    config_.default_model = "default";
  }

  void TearDown() override {
    if (HasFailure() && sim_) std::cerr << "simulator log:\n" << sim_->Logs() << "\n";
  }

  // A gateway on the current config_; a fresh one per test, so breakers start closed.
  LocalGateway& Gateway(const Clock& clock = SystemClock::Instance()) {
    gateway_ = std::make_unique<LocalGateway>(config_, clock, random_, metrics_);
    Status st = gateway_->Start();
    EXPECT_TRUE(st.ok()) << st.error().message;
    return *gateway_;
  }

  ModelCallResult Call(ModelCallRequest req) {
    Waiter w;
    gateway_->CallModel(std::move(req), w.Done());
    return w.Wait();
  }

  ModelCallResult Call(const std::string& target, const std::string& text = "hello there") {
    ModelCallRequest req;
    req.run_id = "run-1";
    req.target = target;
    req.request = UserRequest(text);
    return Call(std::move(req));
  }

  static void Faults(const std::string& faults_json) {
    Status st = sim_->SetFaults(faults_json);
    ASSERT_TRUE(st.ok()) << st.error().message;
  }

  // Requests the simulator received for an upstream model name.
  static int64_t Received(const std::string& model) {
    auto stats = sim_->Stats();
    EXPECT_TRUE(stats.ok()) << stats.error().message;
    if (!stats.ok()) return -1;
    const json::value* m = stats->as_object().at("models").as_object().if_contains(model);
    return m ? m->at("requests").as_int64() : 0;
  }

  static std::vector<std::string> Outcomes(const ModelCallResult& r) {
    std::vector<std::string> out;
    for (const auto& a : r.attempts) out.push_back(a.target + ":" + a.outcome);
    return out;
  }

  json::object Breaker(const std::string& key) {
    for (const auto& b : gateway_->BreakerStates()) {
      if (b.at("key").as_string() == key) return b.as_object();
    }
    return {};
  }

  static SimProcess* sim_;
  GatewayConfig config_;
  Random random_{1234};
  obs::Registry metrics_;
  std::unique_ptr<LocalGateway> gateway_;
};

SimProcess* ModelCallerTest::sim_ = nullptr;

TEST_F(ModelCallerTest, PlainCallReturnsContentUsageAndCost) {
  Gateway();
  ModelCallResult r = Call("sim-a", "tell me about otters");
  ASSERT_TRUE(r.ok) << Describe(r);
  EXPECT_EQ(r.model, "sim-a");
  EXPECT_FALSE(r.response.content.empty());
  EXPECT_TRUE(r.response.usage_reported);
  EXPECT_FALSE(r.response.usage.estimated);
  EXPECT_GT(r.response.usage.input_tokens, 0);
  EXPECT_GT(r.response.usage.output_tokens, 0);
  EXPECT_DOUBLE_EQ(r.cost_usd, r.response.usage.input_tokens * 3 / 1e6 +
                                   r.response.usage.output_tokens * 15 / 1e6);
  EXPECT_EQ(Outcomes(r), (std::vector<std::string>{"sim-a:ok"}));
  EXPECT_EQ(r.attempts[0].http_status, 200);
  EXPECT_EQ(Received("sim-a"), 1);

  ModelCallResult c = Call("claude", "tell me about otters");
  ASSERT_TRUE(c.ok) << Describe(c);
  EXPECT_EQ(c.model, "claude");
  EXPECT_FALSE(c.response.content.empty());
  EXPECT_DOUBLE_EQ(c.cost_usd, c.response.usage.input_tokens * 1 / 1e6 +
                                   c.response.usage.output_tokens * 5 / 1e6);
  EXPECT_EQ(Received("claude-sim"), 1);
}

TEST_F(ModelCallerTest, MissingUsageIsEstimated) {
  Gateway();
  Faults(R"({"sim-a": {"omit_usage": true}})");
  ModelCallResult r = Call("sim-a", "count these words for me please");
  ASSERT_TRUE(r.ok) << Describe(r);
  EXPECT_FALSE(r.response.usage_reported);
  EXPECT_TRUE(r.response.usage.estimated);
  EXPECT_GT(r.response.usage.input_tokens, 0);
  EXPECT_GT(r.response.usage.output_tokens, 0);
  EXPECT_GT(r.cost_usd, 0);
}

TEST_F(ModelCallerTest, EmptyTargetUsesTheDefaultAndPreferLastStartsAtTheCheapest) {
  Gateway();
  ModelCallResult r = Call("");
  ASSERT_TRUE(r.ok) << Describe(r);
  EXPECT_EQ(r.model, "sim-a");

  ModelCallRequest req;
  req.request = UserRequest("hi");
  req.prefer_last = true;
  ModelCallResult last = Call(std::move(req));
  ASSERT_TRUE(last.ok) << Describe(last);
  EXPECT_EQ(last.model, "sim-b");
  EXPECT_EQ(Received("sim-a"), 1);
}

TEST_F(ModelCallerTest, UnknownTargetNamesWhatIsKnown) {
  Gateway();
  ModelCallResult r = Call("gpt-nonexistent");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_code, "unknown_model");
  EXPECT_NE(r.message.find("gpt-nonexistent"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("sim-a"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("default"), std::string::npos) << r.message;
  EXPECT_TRUE(r.attempts.empty());
}

TEST_F(ModelCallerTest, TransientFailuresAreRetriedOnTheSameModel) {
  Gateway();
  Faults(R"({"sim-a": {"fail_next": 2}})");
  std::mutex mu;
  std::vector<Attempt> seen;
  ModelCallRequest req;
  req.target = "sim-a";
  req.request = UserRequest("hello");
  req.on_attempt = [&](const Attempt& a) {
    std::lock_guard lock(mu);
    seen.push_back(a);
  };
  ModelCallResult r = Call(std::move(req));
  ASSERT_TRUE(r.ok) << Describe(r);
  EXPECT_EQ(Outcomes(r), (std::vector<std::string>{"sim-a:retry", "sim-a:retry", "sim-a:ok"}));
  EXPECT_EQ(r.attempts[0].http_status, 503);
  EXPECT_EQ(r.attempts[0].attempt, 1);
  EXPECT_EQ(r.attempts[2].attempt, 3);
  EXPECT_NE(r.attempts[0].error.find("HTTP 503"), std::string::npos) << r.attempts[0].error;
  EXPECT_EQ(Received("sim-a"), 3);
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_EQ(seen[1].outcome, "retry");
    EXPECT_EQ(seen[2].outcome, "ok");
  }
  EXPECT_EQ(metrics_.GetCounter("keel_gateway_retries_total", "", "model=\"sim-a\"").Value(), 2u);
}

TEST_F(ModelCallerTest, RetryWaitsAtLeastTheRetryAfter) {
  Gateway();
  Faults(R"({"sim-a": {"rate_limit_next": 1, "retry_after": "1s"}})");
  ModelCallResult r = Call("sim-a");
  ASSERT_TRUE(r.ok) << Describe(r);
  ASSERT_EQ(Outcomes(r), (std::vector<std::string>{"sim-a:retry", "sim-a:ok"}));
  EXPECT_EQ(r.attempts[0].http_status, 429);
  EXPECT_GE(r.attempts[0].backoff_ms, 1000);
  EXPECT_EQ(Received("sim-a"), 2);
}

TEST_F(ModelCallerTest, OutageFallsBackToTheNextModel) {
  Gateway();
  Faults(R"({"sim-a": {"outage": true}})");
  ModelCallResult r = Call("default");
  ASSERT_TRUE(r.ok) << Describe(r);
  EXPECT_EQ(r.model, "sim-b");
  EXPECT_EQ(Outcomes(r),
            (std::vector<std::string>{"sim-a:retry", "sim-a:retry", "sim-a:fallback", "sim-b:ok"}));
  EXPECT_EQ(Received("sim-a"), 3);
  EXPECT_EQ(Received("sim-b"), 1);
  EXPECT_DOUBLE_EQ(r.cost_usd, r.response.usage.input_tokens * 0.5 / 1e6 +
                                   r.response.usage.output_tokens * 1.5 / 1e6);
  EXPECT_EQ(metrics_.GetCounter("keel_gateway_fallbacks_total", "", "from=\"sim-a\",to=\"sim-b\"")
                .Value(),
            1u);
}

TEST_F(ModelCallerTest, BreakerOpensSkipsTheModelThenProbesAndCloses) {
  auto& sim = config_.providers.at("sim");
  sim.retry.max_attempts = 1;
  sim.breaker =
      BreakerPolicy{.window_ms = 60'000, .min_requests = 2, .failure_rate = 0.5, .open_ms = 300};
  // A fake clock moves the breaker past open_ms without sleeping; no call here waits on a
  // timer, so nothing else needs it to move.
  FakeClock clock(SystemClock::Instance().WallMs());
  Gateway(clock);
  Faults(R"({"sim-a": {"outage": true}})");

  for (int i = 0; i < 2; ++i) {
    ModelCallResult r = Call("default");
    ASSERT_TRUE(r.ok) << Describe(r);
    EXPECT_EQ(Outcomes(r), (std::vector<std::string>{"sim-a:fallback", "sim-b:ok"}));
  }
  json::object b = Breaker("sim/sim-a");
  ASSERT_FALSE(b.empty()) << json::serialize(gateway_->BreakerStates());
  EXPECT_EQ(b.at("state").as_string(), "open");
  EXPECT_EQ(b.at("retry_at_ms").as_int64(), clock.WallMs() + 300);
  EXPECT_EQ(Breaker("sim/sim-b").at("state").as_string(), "closed");
  ASSERT_EQ(Received("sim-a"), 2);

  // Open: sim-a is skipped without a request.
  for (int i = 0; i < 3; ++i) {
    ModelCallResult r = Call("default");
    ASSERT_TRUE(r.ok) << Describe(r);
    EXPECT_EQ(Outcomes(r), (std::vector<std::string>{"sim-a:breaker_open", "sim-b:ok"}));
    EXPECT_NE(r.attempts[0].error.find("breaker open"), std::string::npos);
  }
  EXPECT_EQ(Received("sim-a"), 2);

  // With sim-b down too, the call says when sim-a's breaker lets a probe through.
  Faults(R"({"sim-a": {"outage": true}, "sim-b": {"outage": true}})");
  ModelCallResult down = Call("default");
  EXPECT_EQ(down.error_code, "provider_unavailable") << Describe(down);
  EXPECT_EQ(down.retry_at_ms, clock.WallMs() + 300);
  EXPECT_NE(down.message.find("sim-a: breaker open until"), std::string::npos) << down.message;

  // After open_ms one probe goes out; the outage is over, so it closes the breaker.
  Faults("{}");
  clock.AdvanceMs(300);
  ModelCallResult probe = Call("default");
  ASSERT_TRUE(probe.ok) << Describe(probe);
  EXPECT_EQ(probe.model, "sim-a");
  EXPECT_EQ(Outcomes(probe), (std::vector<std::string>{"sim-a:ok"}));
  EXPECT_EQ(Received("sim-a"), 3);
  EXPECT_EQ(Breaker("sim/sim-a").at("state").as_string(), "closed");
  EXPECT_EQ(metrics_
                .GetCounter("keel_gateway_breaker_transitions_total", "",
                            "key=\"sim/sim-a\",to=\"closed\"")
                .Value(),
            1u);
}

TEST_F(ModelCallerTest, HalfOpenProbeFailureReopens) {
  auto& sim = config_.providers.at("sim");
  sim.retry.max_attempts = 1;
  sim.breaker =
      BreakerPolicy{.window_ms = 60'000, .min_requests = 1, .failure_rate = 0.5, .open_ms = 300};
  FakeClock clock(SystemClock::Instance().WallMs());
  Gateway(clock);
  Faults(R"({"sim-a": {"outage": true}})");
  ASSERT_TRUE(Call("default").ok);
  ASSERT_EQ(Breaker("sim/sim-a").at("state").as_string(), "open");
  clock.AdvanceMs(300);
  ModelCallResult probe = Call("default");
  ASSERT_TRUE(probe.ok) << Describe(probe);
  EXPECT_EQ(Outcomes(probe), (std::vector<std::string>{"sim-a:fallback", "sim-b:ok"}));
  EXPECT_EQ(Received("sim-a"), 2);
  EXPECT_EQ(Breaker("sim/sim-a").at("state").as_string(), "open");
  EXPECT_EQ(Breaker("sim/sim-a").at("retry_at_ms").as_int64(), clock.WallMs() + 300);
}

TEST_F(ModelCallerTest, EverythingDownIsProviderUnavailableWithARetryTime) {
  Gateway();
  Faults(R"({"*": {"outage": true}})");
  int64_t before = SystemClock::Instance().WallMs();
  ModelCallResult r = Call("default");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_code, "provider_unavailable") << Describe(r);
  EXPECT_GT(r.retry_at_ms, before);
  EXPECT_NE(r.message.find("every model of chain \"default\""), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("sim-a: HTTP 503"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("sim-b: HTTP 503"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("after 3 attempts"), std::string::npos) << r.message;
  EXPECT_EQ(r.attempts.back().outcome, "failed");
  EXPECT_EQ(Received("sim-a"), 3);
  EXPECT_EQ(Received("sim-b"), 3);
}

TEST_F(ModelCallerTest, SpendLimitIsNotRetriedForEitherProviderKind) {
  Gateway();
  Faults(R"({"sim-a": {"spend_limit": true}, "claude-sim": {"spend_limit": true}})");
  for (const auto& [model, upstream] : std::vector<std::pair<std::string, std::string>>{
           {"sim-a", "sim-a"}, {"claude", "claude-sim"}}) {
    ModelCallResult r = Call(model);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error_code, "spend_limit") << model << ": " << Describe(r);
    EXPECT_NE(r.message.find(model), std::string::npos) << r.message;
    EXPECT_EQ(Received(upstream), 1) << model;
    ASSERT_EQ(r.attempts.size(), 1u) << Describe(r);
    EXPECT_EQ(r.attempts[0].outcome, "failed");
  }
}

TEST_F(ModelCallerTest, PermanentErrorFallsBackWithoutRetryOrBreakerFailure) {
  config_.providers.at("sim").breaker.min_requests = 1;
  Gateway();
  Faults(R"({"sim-a": {"fail_next": 5, "fail_status": 400}})");
  ModelCallResult r = Call("default");
  ASSERT_TRUE(r.ok) << Describe(r);
  EXPECT_EQ(Outcomes(r), (std::vector<std::string>{"sim-a:fallback", "sim-b:ok"}));
  EXPECT_EQ(Received("sim-a"), 1);
  // The request's own fault says nothing about the provider: the breaker stays closed.
  EXPECT_EQ(Breaker("sim/sim-a").at("state").as_string(), "closed");

  ModelCallResult only = Call("sim-a");
  EXPECT_EQ(only.error_code, "invalid_request") << Describe(only);
  EXPECT_NE(only.message.find("HTTP 400"), std::string::npos) << only.message;
}

TEST_F(ModelCallerTest, MalformedEverywhereIsMalformedResponse) {
  Gateway();
  Faults(R"({"*": {"malformed_rate": 1}})");
  ModelCallResult r = Call("default");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_code, "malformed_response") << Describe(r);
  EXPECT_NE(r.message.find("malformed"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("sim-a"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("sim-b"), std::string::npos) << r.message;
  EXPECT_EQ(Received("sim-a"), 3);
  EXPECT_EQ(Received("sim-b"), 3);
}

TEST_F(ModelCallerTest, StalledStreamIsRetriedElsewhere) {
  config_.providers.at("sim").idle_timeout_ms = 400;
  Gateway();
  Faults(R"({"sim-a": {"stall_rate": 1, "stall_after_chunks": 1}})");
  ModelCallRequest req;
  req.target = "default";
  req.stream = true;
  req.request = UserRequest("a streamed answer please");
  ModelCallResult r = Call(std::move(req));
  ASSERT_TRUE(r.ok) << Describe(r);
  EXPECT_EQ(r.model, "sim-b");
  ASSERT_GE(r.attempts.size(), 2u);
  EXPECT_NE(r.attempts[0].error.find("stall"), std::string::npos) << r.attempts[0].error;
  EXPECT_EQ(r.attempts[0].target, "sim-a");
  EXPECT_EQ(r.attempts[0].outcome, "retry");
  EXPECT_FALSE(r.response.content.empty());
}

TEST_F(ModelCallerTest, StreamingGivesTheSameContentAsAPlainCall) {
  Gateway();
  for (const std::string model : {"sim-a", "claude"}) {
    const std::string text = "stream this sentence back to me, word by word";
    ModelCallResult plain = Call(model, text);
    ASSERT_TRUE(plain.ok) << Describe(plain);

    std::mutex mu;
    std::string deltas;
    int pieces = 0;
    ModelCallRequest req;
    req.target = model;
    req.stream = true;
    req.request = UserRequest(text);
    req.on_text = [&](std::string_view t) {
      std::lock_guard lock(mu);
      deltas += t;
      ++pieces;
    };
    ModelCallResult streamed = Call(std::move(req));
    ASSERT_TRUE(streamed.ok) << Describe(streamed);
    EXPECT_EQ(streamed.response.content, plain.response.content) << model;
    std::lock_guard lock(mu);
    EXPECT_EQ(deltas, streamed.response.content) << model;
    EXPECT_GT(pieces, 1) << model;
    EXPECT_GT(streamed.response.usage.output_tokens, 0) << model;
  }
}

TEST_F(ModelCallerTest, CancelEndsABlackholedCall) {
  config_.providers.at("sim").timeout_ms = 60'000;
  config_.providers.at("sim").idle_timeout_ms = 60'000;
  Gateway();
  Faults(R"({"sim-a": {"blackhole_rate": 1}})");
  auto cancel = std::make_shared<CancelToken>();
  ModelCallRequest req;
  req.target = "default";
  req.request = UserRequest("hello?");
  req.cancel = cancel;
  Waiter w;
  gateway_->CallModel(std::move(req), w.Done());
  // Cancel once the simulator holds the request, so the cancel hits a transfer in flight.
  for (int i = 0; i < kWaitMs / 10 && Received("sim-a") < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(Received("sim-a"), 1);
  EXPECT_FALSE(w.finished());
  cancel->Cancel();
  ModelCallResult r = w.Wait();
  EXPECT_EQ(r.error_code, "cancelled") << Describe(r);
  // Cancelled means stopped: no retry, no fallback to sim-b.
  EXPECT_EQ(Received("sim-a"), 1);
  EXPECT_EQ(Received("sim-b"), 0);
}

TEST_F(ModelCallerTest, CancelDuringBackoffEndsTheCall) {
  Gateway();
  Faults(R"({"sim-a": {"rate_limit_next": 5, "retry_after": "30s"}})");
  auto cancel = std::make_shared<CancelToken>();
  ModelCallRequest req;
  req.target = "sim-a";
  req.request = UserRequest("hello?");
  req.cancel = cancel;
  std::atomic<bool> retrying{false};
  req.on_attempt = [&](const Attempt& a) {
    if (a.outcome == "retry") retrying = true;
  };
  Waiter w;
  gateway_->CallModel(std::move(req), w.Done());
  for (int i = 0; i < kWaitMs / 10 && !retrying; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(retrying);
  cancel->Cancel();
  ModelCallResult r = w.Wait();
  EXPECT_EQ(r.error_code, "cancelled") << Describe(r);
  EXPECT_EQ(Received("sim-a"), 1);
}

TEST_F(ModelCallerTest, DestroyingTheGatewayEndsCallsInFlightAndWaiting) {
  config_.providers.at("sim").timeout_ms = 60'000;
  config_.providers.at("sim").idle_timeout_ms = 60'000;
  Gateway();
  Faults(R"({"sim-a": {"rate_limit_next": 5, "retry_after": "30s"},
             "sim-b": {"blackhole_rate": 1}})");
  std::atomic<bool> retrying{false};
  ModelCallRequest waiting;
  waiting.target = "sim-a";
  waiting.request = UserRequest("one");
  waiting.on_attempt = [&](const Attempt& a) {
    if (a.outcome == "retry") retrying = true;
  };
  ModelCallRequest in_flight;
  in_flight.target = "sim-b";
  in_flight.request = UserRequest("two");
  Waiter w1, w2;
  gateway_->CallModel(std::move(waiting), w1.Done());
  gateway_->CallModel(std::move(in_flight), w2.Done());
  for (int i = 0; i < kWaitMs / 10 && !(retrying && Received("sim-b") == 1); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(retrying);
  ASSERT_EQ(Received("sim-b"), 1);
  gateway_.reset();
  EXPECT_EQ(w1.Wait().error_code, "cancelled");
  EXPECT_EQ(w2.Wait().error_code, "cancelled");
}

TEST_F(ModelCallerTest, DeadlineStopsRetries) {
  config_.providers.at("sim").retry.max_attempts = 50;
  Gateway();
  // Every retry waits at least 300 ms, so a 1 s deadline leaves room for at most 4 requests
  // (at 0, >=300, >=600, >=900 ms).
  Faults(R"({"sim-a": {"rate_limit_next": 100, "retry_after": "300ms"}})");
  ModelCallRequest req;
  req.target = "sim-a";
  req.request = UserRequest("hello");
  req.deadline_at_ms = SystemClock::Instance().WallMs() + 1000;
  ModelCallResult r = Call(std::move(req));
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.error_code == "deadline_exceeded" || r.error_code == "provider_unavailable")
      << Describe(r);
  int64_t received = Received("sim-a");
  EXPECT_GE(received, 1);
  EXPECT_LE(received, 4) << Describe(r);
  int sent = 0;
  for (const auto& a : r.attempts) {
    if (a.http_status == 429) ++sent;
    if (a.outcome == "retry") {
      EXPECT_GE(a.backoff_ms, 300);
    }
  }
  EXPECT_EQ(sent, received) << Describe(r);
}

TEST_F(ModelCallerTest, AttemptsAreCountedInMetrics) {
  Gateway();
  Faults(R"({"sim-a": {"fail_next": 1}})");
  ASSERT_TRUE(Call("sim-a").ok);
  EXPECT_EQ(
      metrics_.GetCounter("keel_gateway_model_calls_total", "", "model=\"sim-a\",outcome=\"retry\"")
          .Value(),
      1u);
  EXPECT_EQ(
      metrics_.GetCounter("keel_gateway_model_calls_total", "", "model=\"sim-a\",outcome=\"ok\"")
          .Value(),
      1u);
  EXPECT_NE(metrics_.Render().find("keel_gateway_call_seconds_count{model=\"sim-a\"} 2"),
            std::string::npos)
      << metrics_.Render();
}

TEST(LocalGatewayTest, TraitsOfComeFromTheToolsConfig) {
  GatewayConfig config;
  ToolConfig send;
  send.name = "send_email";
  send.kind = "http";
  send.url = "http://127.0.0.1:1/send";
  send.effect = true;
  send.compensate_with = "recall_email";
  send.outbox_max_attempts = 4;
  ToolConfig recall = send;
  recall.name = "recall_email";
  recall.compensate_with = "";
  recall.outbox_max_attempts = 10;
  ToolConfig lookup = send;
  lookup.name = "lookup";
  lookup.effect = false;
  lookup.compensate_with = "";
  config.tools = {{"send_email", send}, {"recall_email", recall}, {"lookup", lookup}};
  Random random(7);
  obs::Registry metrics;
  LocalGateway gateway(config, SystemClock::Instance(), random, metrics);

  auto t = gateway.TraitsOf("send_email");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_TRUE(t->effect);
  EXPECT_EQ(t->compensate_with, "recall_email");
  EXPECT_EQ(t->outbox_max_attempts, 4);
  auto plain = gateway.TraitsOf("lookup");
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  EXPECT_FALSE(plain->effect);
  EXPECT_EQ(plain->compensate_with, "");
  auto unknown = gateway.TraitsOf("nope");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, Errc::kNotFound);
  EXPECT_EQ(unknown.error().message, "unknown tool \"nope\"");
}

}  // namespace
}  // namespace keel::gateway
