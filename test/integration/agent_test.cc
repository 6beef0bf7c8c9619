// Agents end to end: a real `keel serve` whose model provider is a real `keel-llm-sim` over
// HTTP, and whose HTTP tools are the simulator's /tools endpoints. Covers the agent loop
// (model -> tool -> model, parallel tools, interrupts, large results by reference), every
// budget field, loop detection, invalid tool arguments, provider outages (the run waits and
// resumes), spend limits, streaming and cancel.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "test/testing/server_process.h"
#include "test/testing/sim_process.h"
#include "test/testing/test_util.h"

namespace keel::testing {
namespace {

namespace json = boost::json;

// Scripted model behaviour, keyed on words in the user's message.
constexpr const char* kScenario = R"({
  "rules": [
    {"when": {"last_user_contains": "loop"},
     "reply": {"content": "Checking again.", "tool_calls": [{"name": "echo", "arguments": {"x": 1}}]}},
    {"when": {"last_user_contains": "badargs", "last_role": "user"},
     "reply": {"tool_calls": [{"name": "get_weather", "arguments": {"town": 5}}]}},
    {"when": {"last_user_contains": "badargs", "last_role": "tool"},
     "reply": {"content": "The tool said: {{tool_result}}"}},
    {"when": {"last_user_contains": "parallel", "last_role": "user"},
     "reply": {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}},
                              {"name": "add", "arguments": {"a": 2, "b": 3}}]}},
    {"when": {"last_user_contains": "big", "last_role": "user"},
     "reply": {"tool_calls": [{"name": "big", "arguments": {"bytes": 40000}}]}},
    {"when": {"last_user_contains": "penguins"}, "reply": {"content": "penguins noted"}},
    {"when": {"last_user_contains": "interrupt-me", "last_role": "user"},
     "reply": {"tool_calls": [{"name": "sleep", "arguments": {"ms": 1500}}]}},
    {"when": {"last_user_contains": "weather", "last_role": "user"},
     "reply": {"content": "Let me check the weather.",
               "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]}},
    {"when": {"last_role": "tool", "tool_name": "get_weather"},
     "reply": {"content": "Weather report: {{tool_result}}"}}
  ],
  "default": "echo"
})";

class AgentTest : public SharedServerTest {
 protected:
  static void SetUpTestSuite() {
    dir_ = ServerProcess::MakeTempDir("keel-agent-test-");
    sim_ = new SimProcess({.log_dir = dir_});
    Status started = sim_->Start();
    ASSERT_TRUE(started.ok()) << started.error().message;
    std::string tools = sim_->base_url() + "/tools/";
    std::string config = dir_ + "/keel.toml";
    std::ofstream(config) << R"([gateway]
default_model = "default"

[providers.sim]
kind = "openai"
base_url = ")" << sim_->openai_base_url()
                          << R"("
timeout = "20s"
idle_timeout = "5s"
retry = { max_attempts = 2, base_backoff = "10ms", max_backoff = "50ms" }
breaker = { window = "10s", min_requests = 2, failure_rate = 0.5, open = "300ms" }

[providers.sim-anthropic]
kind = "anthropic"
base_url = ")" << sim_->openai_base_url()
                          << R"("

[models.sim-large]
provider = "sim"
input_usd_per_mtok = 3.0
output_usd_per_mtok = 15.0

[models.sim-small]
provider = "sim"
input_usd_per_mtok = 0.5
output_usd_per_mtok = 1.5

[models.claude-sim]
provider = "sim-anthropic"
input_usd_per_mtok = 3.0
output_usd_per_mtok = 15.0

[chains.default]
models = ["sim-large", "sim-small"]

[tools.get_weather]
kind = "http"
description = "Current weather for a city"
url = ")" << tools << R"(get_weather"
parameters = { type = "object", properties = { city = { type = "string" } }, required = ["city"], additionalProperties = false }

[tools.echo]
kind = "http"
url = ")" << tools << R"(echo"

[tools.add]
kind = "http"
url = ")" << tools << R"(add"
parameters = { type = "object", properties = { a = { type = "number" }, b = { type = "number" } }, required = ["a", "b"] }

[tools.big]
kind = "http"
url = ")" << tools << R"(big"

[tools.sleep]
kind = "http"
url = ")" << tools << R"(sleep"

[agents.helper]
description = "A test agent"
model = "default"
system_prompt = "You are a test agent."
tools = ["get_weather", "echo", "add", "big", "sleep"]
loop_detection = { max_repeats = 3 }

[agents.thrifty]
model = "default"
tools = ["get_weather"]
degrade_at = 0.01
budget = { max_steps = 10 }

[agents.claude_helper]
model = "claude-sim"
system_prompt = "You are a test agent."
tools = ["get_weather"]
)";
    StartServer({.workflows_dir = TestWorkflows(), .extra_args = {"--config", config}});
  }

  static void TearDownTestSuite() {
    StopServer();
    delete sim_;
    sim_ = nullptr;
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void SetUp() override {
    SharedServerTest::SetUp();
    ASSERT_TRUE(sim_->SetFaults("{}").ok());
    ASSERT_TRUE(sim_->LoadScenario(kScenario).ok());
    ASSERT_TRUE(sim_->Reset().ok());
  }

  std::string Start(const std::string& intent, const std::string& message,
                    json::object budget = {}) {
    json::object env{{"intent", intent}, {"payload", {{"message", message}}}};
    if (!budget.empty()) env["budget"] = std::move(budget);
    return Str(Submit(c_, env), "/id");
  }

  static int64_t Count(const json::value& stats, std::string_view pointer) {
    json::value v = At(stats, pointer);
    return v.is_int64() ? v.get_int64() : 0;
  }

  json::value Stats() {
    auto s = sim_->Stats();
    EXPECT_TRUE(s.ok());
    return s.ok() ? *s : json::value();
  }

  static std::string dir_;
  static SimProcess* sim_;
};

std::string AgentTest::dir_;
SimProcess* AgentTest::sim_ = nullptr;

TEST_F(AgentTest, ModelToolModelConversationIsJournaled) {
  std::string id = Start("helper", "What is the weather in Oslo?");
  json::value done = WaitTerminal(c_, id);
  ASSERT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
  std::string answer = Str(done, "/result/answer");
  EXPECT_EQ(answer.rfind("Weather report: ", 0), 0u) << answer;
  EXPECT_NE(answer.find("Oslo"), std::string::npos) << answer;
  EXPECT_EQ(At(done, "/usage/tools"), json::value(1));
  EXPECT_GT(Count(done, "/usage/tokens"), 0);
  EXPECT_GT(At(done, "/usage/cost_usd").to_number<double>(), 0.0);

  json::array journal = Journal(c_, id);
  std::vector<std::string> kinds;
  for (const auto& e : journal) {
    if (Str(e, "/kind") != "interrupts") kinds.push_back(Str(e, "/kind"));
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"config", "llm", "tool", "llm"}));
  for (const auto& e : journal) {
    if (Str(e, "/kind") == "tool") {
      EXPECT_EQ(Str(e, "/name"), "get_weather");
      EXPECT_EQ(Str(e, "/request/city"), "Oslo") << json::serialize(e);
      EXPECT_EQ(Str(e, "/result/result/city"), "Oslo") << json::serialize(e);
    }
    if (Str(e, "/kind") == "llm") {
      EXPECT_EQ(Str(e, "/request/request/messages/0/role"), "system") << json::serialize(e);
      EXPECT_EQ(Str(e, "/result/response/model"), "sim-large") << json::serialize(e);
    }
  }
  json::value stats = Stats();
  EXPECT_EQ(Count(stats, "/models/sim-large/requests"), 2) << json::serialize(stats);
  EXPECT_EQ(Count(stats, "/tools/get_weather/requests"), 1) << json::serialize(stats);
  // The tool got the run's idempotency key and trace context.
  std::string traceparent = Str(stats, "/tools/get_weather/last_traceparent");
  EXPECT_EQ(traceparent.rfind("00-", 0), 0u) << traceparent;
}

TEST_F(AgentTest, AnthropicProviderRunsTheSameLoop) {
  std::string id = Start("claude_helper", "What is the weather in Oslo?");
  json::value done = WaitTerminal(c_, id);
  ASSERT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
  EXPECT_EQ(Str(done, "/result/answer").rfind("Weather report: ", 0), 0u) << json::serialize(done);
  EXPECT_EQ(Count(Stats(), "/models/claude-sim/requests"), 2);
}

TEST_F(AgentTest, WorkflowRunsAnAgentWithCtxAgent) {
  std::string id = Str(
      Submit(c_, {{"intent", "agent_call"}, {"payload", {{"message", "weather please"}}}}), "/id");
  json::value done = WaitTerminal(c_, id);
  ASSERT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
  EXPECT_EQ(Str(done, "/result/answer").rfind("Weather report: ", 0), 0u) << json::serialize(done);
}

TEST_F(AgentTest, NearALimitTheLoopDegradesToTheCheapestModel) {
  // degrade_at 0.01: after the first call the agent has used 10% of max_steps.
  std::string id = Start("thrifty", "What is the weather in Oslo?");
  json::value done = WaitTerminal(c_, id);
  ASSERT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
  std::vector<std::string> models;
  std::string last_request;
  for (const auto& e : Journal(c_, id)) {
    if (Str(e, "/kind") != "llm") continue;
    models.push_back(Str(e, "/result/response/model"));
    last_request = json::serialize(At(e, "/request"));
  }
  EXPECT_EQ(models, (std::vector<std::string>{"sim-large", "sim-small"}));
  EXPECT_NE(last_request.find("budget for this task is nearly spent"), std::string::npos)
      << last_request;
}

TEST_F(AgentTest, WorkflowRepeatingAToolCallEndsWithLoopDetected) {
  std::string id = Str(Submit(c_, {{"intent", "tool_loop"}, {"payload", json::object()}}), "/id");
  json::value done = WaitTerminal(c_, id);
  EXPECT_EQ(Str(done, "/status"), "failed") << json::serialize(done);
  EXPECT_EQ(Str(done, "/error/code"), "loop_detected") << json::serialize(done);
  EXPECT_EQ(Count(Stats(), "/tools/echo/requests"), 2);
}

TEST_F(AgentTest, ParallelToolCallsAreJournaledInOrder) {
  std::string id = Start("helper", "parallel please");
  json::value done = WaitTerminal(c_, id);
  ASSERT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
  std::vector<std::string> tools;
  for (const auto& e : Journal(c_, id))
    if (Str(e, "/kind") == "tool") tools.push_back(Str(e, "/name"));
  EXPECT_EQ(tools, (std::vector<std::string>{"get_weather", "add"}));
  EXPECT_EQ(At(done, "/usage/tools"), json::value(2));
}

TEST_F(AgentTest, InvalidToolArgumentsNeverReachTheTool) {
  std::string id = Start("helper", "badargs test");
  json::value done = WaitTerminal(c_, id);
  ASSERT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
  // The model got the validation error back as the tool's result.
  std::string answer = Str(done, "/result/answer");
  EXPECT_NE(answer.find("invalid_arguments"), std::string::npos) << answer;
  EXPECT_NE(answer.find("city"), std::string::npos) << answer;
  EXPECT_EQ(Count(Stats(), "/tools/get_weather/requests"), 0);
}

TEST_F(AgentTest, RepeatedToolCallEndsWithLoopDetected) {
  std::string id = Start("helper", "loop forever");
  json::value done = WaitTerminal(c_, id);
  EXPECT_EQ(Str(done, "/status"), "failed") << json::serialize(done);
  EXPECT_EQ(Str(done, "/error/code"), "loop_detected") << json::serialize(done);
  std::string message = Str(done, "/error/message");
  EXPECT_NE(message.find("tool \"echo\""), std::string::npos) << message;
  EXPECT_NE(message.find("{\"x\":1}"), std::string::npos) << message;
  // Two calls went out; the third identical one was stopped before it was sent.
  EXPECT_EQ(Count(Stats(), "/tools/echo/requests"), 2);
}

TEST_F(AgentTest, MaxStepsEndsWithThePartialAnswer) {
  std::string id = Start("helper", "weather now", {{"max_steps", 2}});
  json::value done = WaitTerminal(c_, id);
  EXPECT_EQ(Str(done, "/status"), "budget_exhausted") << json::serialize(done);
  EXPECT_NE(Str(done, "/error/message").find("max_steps"), std::string::npos);
  EXPECT_EQ(Str(done, "/result/partial_answer"), "Let me check the weather.")
      << json::serialize(done);
  EXPECT_EQ(Count(Stats(), "/models/sim-large/requests"), 1);
}

TEST_F(AgentTest, MaxToolsStopsBeforeTheToolIsCalled) {
  std::string id = Start("helper", "parallel please", {{"max_tools", 1}});
  json::value done = WaitTerminal(c_, id);
  EXPECT_EQ(Str(done, "/status"), "budget_exhausted") << json::serialize(done);
  EXPECT_NE(Str(done, "/error/message").find("max_tools (1)"), std::string::npos)
      << json::serialize(done);
  json::value stats = Stats();
  EXPECT_EQ(Count(stats, "/tools/get_weather/requests") + Count(stats, "/tools/add/requests"), 0);
}

TEST_F(AgentTest, MaxTokensStopsTheRun) {
  std::string id = Start("helper", "weather now", {{"max_tokens", 20}});
  json::value done = WaitTerminal(c_, id);
  EXPECT_EQ(Str(done, "/status"), "budget_exhausted") << json::serialize(done);
  EXPECT_NE(Str(done, "/error/message").find("max_tokens (20)"), std::string::npos)
      << json::serialize(done);
  EXPECT_LE(Count(done, "/usage/tokens"), 20);
}

TEST_F(AgentTest, MaxContextStopsAnOversizedCall) {
  std::string id = Start("helper", "weather now", {{"max_context", 10}});
  json::value done = WaitTerminal(c_, id);
  EXPECT_EQ(Str(done, "/status"), "budget_exhausted") << json::serialize(done);
  EXPECT_NE(Str(done, "/error/message").find("max_context (10"), std::string::npos)
      << json::serialize(done);
  EXPECT_EQ(Count(Stats(), "/requests_total"), 0);
}

TEST_F(AgentTest, MaxCostStopsTheRun) {
  std::string id = Start("helper", "weather now", {{"max_cost_usd", 0.0001}});
  json::value done = WaitTerminal(c_, id);
  EXPECT_EQ(Str(done, "/status"), "budget_exhausted") << json::serialize(done);
  EXPECT_NE(Str(done, "/error/message").find("max_cost_usd"), std::string::npos)
      << json::serialize(done);
}

TEST_F(AgentTest, DeadlineEndsAWaitingRun) {
  ASSERT_TRUE(sim_->SetFaults(R"({"*": {"outage": true}})").ok());
  std::string id = Start("helper", "weather now", {{"deadline_ms", 1500}});
  json::value done = WaitTerminal(c_, id);
  EXPECT_EQ(Str(done, "/status"), "timed_out") << json::serialize(done);
}

TEST_F(AgentTest, ProviderOutageParksTheRunUntilItRecovers) {
  ASSERT_TRUE(sim_->SetFaults(R"({"*": {"outage": true}})").ok());
  std::string id = Start("helper", "weather during an outage");
  json::value waiting = WaitForRun(c_, id, [](const json::value& r) {
    return Str(r, "/status") == "waiting" && Str(r, "/wait_reason") == "provider_unavailable";
  });
  ASSERT_EQ(Str(waiting, "/wait_reason"), "provider_unavailable") << json::serialize(waiting);
  ASSERT_TRUE(sim_->SetFaults("{}").ok());
  json::value done = WaitTerminal(c_, id);
  EXPECT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
  EXPECT_EQ(Str(done, "/result/answer").rfind("Weather report: ", 0), 0u) << json::serialize(done);
  // The breakers are visible in /v1/status.
  json::value status = Parse(MustGet(c_, "/v1/status").body);
  EXPECT_TRUE(At(status, "/gateway/breakers").is_array()) << json::serialize(status);
}

TEST_F(AgentTest, SpendLimitIsNotRetried) {
  ASSERT_TRUE(sim_->SetFaults(R"({"*": {"spend_limit": true}})").ok());
  std::string id = Start("helper", "weather with no money");
  json::value done = WaitTerminal(c_, id);
  EXPECT_EQ(Str(done, "/status"), "failed") << json::serialize(done);
  EXPECT_EQ(Str(done, "/error/code"), "spend_limit") << json::serialize(done);
  json::value stats = Stats();
  // One request per model of the chain: tried once, never retried.
  EXPECT_EQ(Count(stats, "/models/sim-large/requests"), 1) << json::serialize(stats);
  EXPECT_EQ(Count(stats, "/models/sim-small/requests"), 1) << json::serialize(stats);
}

TEST_F(AgentTest, LargeToolResultIsStoredOnceByReference) {
  std::string id = Start("helper", "big result");
  json::value done = WaitTerminal(c_, id);
  ASSERT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
  // The model still saw the whole result (the simulator echoes it back).
  EXPECT_GT(Str(done, "/result/answer").size(), 40000u);
  bool found = false;
  for (const auto& e : Journal(c_, id)) {
    if (Str(e, "/kind") != "tool") continue;
    found = true;
    EXPECT_EQ(Str(e, "/result/result/$ref").rfind("blob:", 0), 0u) << json::serialize(e);
    EXPECT_LT(json::serialize(e).size(), 2000u);
  }
  EXPECT_TRUE(found);
  for (const auto& e : Journal(c_, id)) {
    // Later requests carry the reference, not the 40 kB (the model's echoed answer is big).
    if (Str(e, "/kind") == "llm") {
      EXPECT_LT(json::serialize(At(e, "/request")).size(), 2000u);
    }
  }
}

TEST_F(AgentTest, TokensAndAttemptsStreamAsLiveEvents) {
  ASSERT_TRUE(sim_->SetFaults(R"({"*": {"latency": "400ms"}})").ok());
  std::string id = Start("helper", "weather live");
  std::vector<std::string> events;
  auto stream = server_->Client().Stream(
      "/v1/runs/" + id + "/events", {},
      [&](const std::string&, const std::string& event, const std::string&) {
        events.push_back(event);
        return event != "end";
      });
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  EXPECT_NE(std::find(events.begin(), events.end(), "token"), events.end());
  EXPECT_NE(std::find(events.begin(), events.end(), "llm"), events.end());
  EXPECT_EQ(events.back(), "end");
}

TEST_F(AgentTest, CancelAbortsTheInFlightModelCall) {
  ASSERT_TRUE(sim_->SetFaults(R"({"*": {"blackhole_rate": 1.0}})").ok());
  std::string id = Start("helper", "weather into the void");
  ASSERT_TRUE(WaitFor([&] { return Count(Stats(), "/requests_total") >= 1; }, 10'000));
  auto cancel = c_.Post("/v1/runs/" + id + "/cancel", "");
  ASSERT_TRUE(cancel.ok());
  EXPECT_EQ(cancel->status, 200) << cancel->body;
  json::value done = WaitTerminal(c_, id, 5'000);
  EXPECT_EQ(Str(done, "/status"), "cancelled");
  // No retry or fallback followed the cancel.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Count(Stats(), "/requests_total"), 1);
}

TEST_F(AgentTest, InterruptReachesTheModelAtTheNextTurn) {
  std::string id = Start("helper", "interrupt-me please");
  // The agent is now waiting for the 1.5 s sleep tool.
  ASSERT_TRUE(WaitFor([&] { return Count(Stats(), "/tools/sleep/requests") >= 1; }, 10'000));
  auto r = c_.Post("/v1/runs/" + id + "/interrupt", R"({"input": "also mention penguins"})");
  ASSERT_TRUE(r.ok());
  EXPECT_LT(r->status, 300) << r->body;
  json::value done = WaitTerminal(c_, id);
  ASSERT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
  EXPECT_EQ(Str(done, "/result/answer"), "penguins noted") << json::serialize(done);
}

TEST_F(AgentTest, LlmWithoutToolsFromAWorkflow) {
  std::string id =
      Str(Submit(c_, {{"intent", "llm_direct"}, {"payload", {{"text", "hello model"}}}}), "/id");
  json::value done = WaitTerminal(c_, id);
  ASSERT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
  EXPECT_EQ(Str(done, "/result/content"), "echo: hello model") << json::serialize(done);
  EXPECT_EQ(Str(done, "/result/model"), "sim-small") << json::serialize(done);
}

}  // namespace
}  // namespace keel::testing
