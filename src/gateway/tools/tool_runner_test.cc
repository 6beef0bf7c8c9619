// ToolRunner against real endpoints: keel-llm-sim's test tools over HTTP on 127.0.0.1, the
// Lua fixtures in testdata/, and @modelcontextprotocol/server-everything over stdio.
#include "gateway/tools/tool_runner.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <future>
#include <thread>

#include "gateway/mcp/mcp_client.h"
#include "test/testing/server_process.h"
#include "test/testing/sim_process.h"

namespace keel::gateway {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using testing::SimProcess;

constexpr const char* kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

std::string SourceDir() {
  const char* dir = std::getenv("KEEL_SOURCE_DIR");
  return dir ? dir : ".";
}
std::string TestData(const std::string& file) {
  return SourceDir() + "/src/gateway/tools/testdata/" + file;
}
std::string EverythingJs() {
  return SourceDir() +
         "/test/mcp/node_modules/@modelcontextprotocol/server-everything/dist/index.js";
}

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Retries fast, so the tests that retry take milliseconds.
RetryPolicy FastRetry(int max_attempts) {
  RetryPolicy r;
  r.max_attempts = max_attempts;
  r.base_backoff_ms = 5;
  r.max_backoff_ms = 20;
  return r;
}

class ToolRunnerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    sim_ = new SimProcess();
    started_ = sim_->Start();
  }
  static void TearDownTestSuite() {
    delete sim_;
    sim_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(started_.ok()) << started_.error().message;
    ASSERT_TRUE(sim_->Reset().ok());
    ASSERT_TRUE(sim_->SetFaults("{}").ok());
    timers_.Start();
  }
  void TearDown() override {
    runner_.reset();
    timers_.Stop();
  }

  ToolConfig SimTool(const std::string& name, const std::string& sim_tool,
                     const std::string& parameters = "null") {
    ToolConfig t;
    t.name = name;
    t.kind = "http";
    t.description = "sim tool " + sim_tool;
    t.url = sim_->base_url() + "/tools/" + sim_tool;
    t.parameters = json::parse(parameters);
    t.timeout_ms = 10'000;
    t.retry = FastRetry(3);
    return t;
  }
  ToolConfig LuaTool(const std::string& name, const std::string& file) {
    ToolConfig t;
    t.name = name;
    t.kind = "lua";
    t.lua_file = TestData(file);
    return t;
  }
  void Add(ToolConfig t) { config_.tools[t.name] = std::move(t); }

  Status StartRunner() {
    runner_ =
        std::make_unique<ToolRunner>(config_, http_, breakers_, timers_, clock_, random_, metrics_);
    return runner_->Start();
  }

  ToolCallRequest Request(const std::string& tool, const std::string& args) {
    ToolCallRequest r;
    r.run_id = "run-1";
    r.seq = 7;
    r.name = tool;
    r.args_json = args;
    return r;
  }

  struct Answer {
    ToolCallResult result;
    std::thread::id thread;
  };
  // Calls and waits (generously) for `done`.
  Answer CallAndWait(ToolCallRequest req, int timeout_ms = 30'000) {
    auto promise = std::make_shared<std::promise<Answer>>();
    auto future = promise->get_future();
    runner_->Call(std::move(req), [promise](ToolCallResult r) {
      promise->set_value(Answer{std::move(r), std::this_thread::get_id()});
    });
    if (future.wait_for(std::chrono::milliseconds(timeout_ms)) != std::future_status::ready) {
      ADD_FAILURE() << "done was not called within " << timeout_ms << " ms";
      return Answer{};
    }
    return future.get();
  }
  ToolCallResult Call(const std::string& tool, const std::string& args) {
    return CallAndWait(Request(tool, args)).result;
  }

  // How many requests the sim received for `tool`.
  int64_t SimRequests(const std::string& tool) {
    auto stats = sim_->Stats();
    EXPECT_TRUE(stats.ok()) << stats.error().message;
    if (!stats.ok()) return -1;
    const json::value* t = stats->as_object().at("tools").as_object().if_contains(tool);
    return t ? t->at("requests").as_int64() : 0;
  }

  static SimProcess* sim_;
  static Status started_;

  GatewayConfig config_;
  SystemClock clock_;
  Random random_{42};
  obs::Registry metrics_;
  TimerQueue timers_{clock_};
  BreakerSet breakers_{clock_, metrics_};
  AsyncHttpClient http_;
  std::unique_ptr<ToolRunner> runner_;
};
SimProcess* ToolRunnerTest::sim_ = nullptr;
Status ToolRunnerTest::started_ = OkStatus();

constexpr const char* kWeatherSchema = R"({"type":"object","required":["city"],
    "properties":{"city":{"type":"string"},"unit":{"enum":["c","f"]}},
    "additionalProperties":false})";

TEST_F(ToolRunnerTest, HttpToolReturnsTheSimsJson) {
  Add(SimTool("get_weather", "get_weather", kWeatherSchema));
  ASSERT_TRUE(StartRunner().ok());
  std::vector<Attempt> reported;
  ToolCallRequest req = Request("get_weather", R"({"city":"Oslo"})");
  req.on_attempt = [&reported](const Attempt& a) { reported.push_back(a); };
  ToolCallResult r = CallAndWait(std::move(req)).result;
  ASSERT_TRUE(r.ok) << r.error_code << ": " << r.message;
  json::value v = json::parse(r.result_json);
  EXPECT_EQ(v.at("city"), "Oslo");
  EXPECT_TRUE(v.at("temp_c").is_int64());
  EXPECT_TRUE(v.at("call_id").is_int64()) << r.result_json;
  ASSERT_EQ(r.attempts.size(), 1u);
  EXPECT_EQ(r.attempts[0].outcome, "ok");
  EXPECT_EQ(r.attempts[0].http_status, 200);
  EXPECT_EQ(r.attempts[0].target, "get_weather");
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_EQ(reported[0].outcome, "ok");
  EXPECT_TRUE(Contains(metrics_.Render(),
                       R"(keel_gateway_tool_calls_total{tool="get_weather",outcome="ok"} 1)"))
      << metrics_.Render();
}

TEST_F(ToolRunnerTest, IdempotencyKeyAndTraceparentReachTheTool) {
  Add(SimTool("get_weather", "get_weather"));
  ASSERT_TRUE(StartRunner().ok());
  ToolCallRequest req = Request("get_weather", R"({"city":"Lima"})");
  req.run_id = "run-abc";
  req.seq = 12;
  req.traceparent = kTraceparent;
  ToolCallResult r = CallAndWait(std::move(req)).result;
  ASSERT_TRUE(r.ok) << r.message;
  auto stats = sim_->Stats();
  ASSERT_TRUE(stats.ok());
  const json::value& tool = stats->at("tools").at("get_weather");
  EXPECT_EQ(tool.at("keys").at("run-abc:12").at("count"), 1) << json::serialize(tool);
  EXPECT_EQ(tool.at("last_traceparent"), kTraceparent);
}

TEST_F(ToolRunnerTest, ExplicitIdempotencyKeyReplacesRunIdAndSeq) {
  Add(SimTool("get_weather", "get_weather"));
  ASSERT_TRUE(StartRunner().ok());
  ToolCallRequest req = Request("get_weather", R"({"city":"Quito"})");
  req.run_id = "run-abc";
  req.seq = 0;
  req.idempotency_key = "appr-1:created:1";
  ToolCallResult r = CallAndWait(std::move(req)).result;
  ASSERT_TRUE(r.ok) << r.message;
  auto stats = sim_->Stats();
  ASSERT_TRUE(stats.ok());
  const json::value& keys = stats->at("tools").at("get_weather").at("keys");
  EXPECT_EQ(keys.at("appr-1:created:1").at("count"), 1) << json::serialize(keys);
  EXPECT_EQ(keys.as_object().if_contains("run-abc:0"), nullptr) << json::serialize(keys);
}

TEST_F(ToolRunnerTest, ArgumentsReachTheToolIntact) {
  Add(SimTool("echo", "echo"));
  ASSERT_TRUE(StartRunner().ok());
  ToolCallResult r = Call("echo", R"({"text":"héllo","n":[1,2,{"deep":null}]})");
  ASSERT_TRUE(r.ok) << r.message;
  EXPECT_EQ(json::parse(r.result_json).at("echo"),
            json::parse(R"({"text":"héllo","n":[1,2,{"deep":null}]})"));
}

TEST_F(ToolRunnerTest, LargeResultsComeBackWhole) {
  Add(SimTool("big", "big"));
  ASSERT_TRUE(StartRunner().ok());
  ToolCallResult r = Call("big", R"({"bytes":2000000})");
  ASSERT_TRUE(r.ok) << r.message;
  EXPECT_EQ(json::parse(r.result_json).at("data").as_string().size(), 2'000'000u);
}

TEST_F(ToolRunnerTest, InvalidArgumentsNeverReachTheTool) {
  Add(SimTool("get_weather", "get_weather", kWeatherSchema));
  ASSERT_TRUE(StartRunner().ok());
  struct Case {
    const char* args;
    const char* message;
  } cases[] = {
      {R"({"city":42})", "arguments.city: expected string, got number 42"},
      {R"({"unit":"c"})", R"(arguments: missing required property "city")"},
      {R"({"city":"Oslo","unit":"kelvin"})", R"(arguments.unit: must be one of "c", "f")"},
      {R"({"city":"Oslo","when":"now"})", R"(arguments: unexpected property "when")"},
      {R"({"city": Oslo})", "arguments are not a JSON object: "},
      {R"(["Oslo"])", "arguments are not a JSON object: got `[\"Oslo\"]`"},
      {R"("Oslo")", "arguments are not a JSON object: got `\"Oslo\"`"},
      // A model's malformed arguments, as gateway::ResponseToJson keeps them.
      {R"({"$raw":"{\"city\": Osl"})", R"(arguments are not a JSON object: `{"city": Osl`)"},
  };
  for (const auto& c : cases) {
    Answer a = CallAndWait(Request("get_weather", c.args));
    EXPECT_FALSE(a.result.ok) << c.args;
    EXPECT_EQ(a.result.error_code, "invalid_arguments") << c.args;
    EXPECT_TRUE(Contains(a.result.message, c.message)) << c.args << " → " << a.result.message;
    EXPECT_TRUE(a.result.attempts.empty());
    EXPECT_NE(a.thread, std::this_thread::get_id()) << "done must not run on the caller's thread";
  }
  EXPECT_EQ(SimRequests("get_weather"), 0);
}

TEST_F(ToolRunnerTest, UnknownToolListsTheKnownOnes) {
  Add(SimTool("get_weather", "get_weather"));
  Add(SimTool("echo", "echo"));
  ToolConfig internal = SimTool("$approval_webhook", "echo");  // not listed: not for callers
  Add(internal);
  ASSERT_TRUE(StartRunner().ok());
  ToolCallResult r = Call("get_wether", "{}");
  EXPECT_EQ(r.error_code, "unknown_tool");
  EXPECT_EQ(r.message, R"(unknown tool "get_wether" (known: echo, get_weather))");
}

TEST_F(ToolRunnerTest, FailuresBeforeSuccessAreRetried) {
  Add(SimTool("get_weather", "get_weather"));
  ASSERT_TRUE(StartRunner().ok());
  ASSERT_TRUE(sim_->SetFaults(R"({"tool:get_weather":{"fail_next":2,"fail_status":503}})").ok());
  ToolCallResult r = Call("get_weather", R"({"city":"Rome"})");
  ASSERT_TRUE(r.ok) << r.error_code << ": " << r.message;
  EXPECT_EQ(json::parse(r.result_json).at("city"), "Rome");
  ASSERT_EQ(r.attempts.size(), 3u);
  EXPECT_EQ(r.attempts[0].outcome, "retry");
  EXPECT_EQ(r.attempts[0].http_status, 503);
  EXPECT_TRUE(Contains(r.attempts[0].error, "HTTP 503")) << r.attempts[0].error;
  EXPECT_EQ(r.attempts[1].outcome, "retry");
  EXPECT_EQ(r.attempts[2].outcome, "ok");
  EXPECT_EQ(r.attempts[2].attempt, 3);
  // Every attempt carries the same Idempotency-Key, so the tool can tell them apart from
  // new calls.
  auto stats = sim_->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->at("tools").at("get_weather").at("keys").at("run-1:7").at("count"), 3);
}

TEST_F(ToolRunnerTest, ClientErrorIsAToolErrorAndNotRetried) {
  Add(SimTool("get_weather", "get_weather"));  // no schema: the sim itself refuses
  ASSERT_TRUE(StartRunner().ok());
  ToolCallResult r = Call("get_weather", R"({"city":""})");
  EXPECT_EQ(r.error_code, "tool_error");
  EXPECT_TRUE(Contains(r.message, "HTTP 400: get_weather: args.city must be a non-empty string"))
      << r.message;
  ASSERT_EQ(r.attempts.size(), 1u);
  EXPECT_EQ(r.attempts[0].outcome, "failed");
  EXPECT_EQ(SimRequests("get_weather"), 1);
}

TEST_F(ToolRunnerTest, OutageOpensTheBreakerAndThenNothingIsSent) {
  ToolConfig t = SimTool("get_weather", "get_weather");
  t.retry = FastRetry(2);
  t.breaker.min_requests = 4;
  t.breaker.failure_rate = 0.5;
  t.breaker.open_ms = 60'000;
  Add(t);
  ASSERT_TRUE(StartRunner().ok());
  ASSERT_TRUE(sim_->SetFaults(R"({"tool:get_weather":{"outage":true}})").ok());
  for (int i = 0; i < 2; ++i) {
    int64_t before = clock_.WallMs();
    ToolCallResult r = Call("get_weather", R"({"city":"Oslo"})");
    EXPECT_EQ(r.error_code, "tool_unavailable");
    EXPECT_TRUE(Contains(r.message, "failed 2 attempts; last: HTTP 503")) << r.message;
    EXPECT_GE(r.retry_at_ms, before + 1000);
    ASSERT_EQ(r.attempts.size(), 2u);
    EXPECT_EQ(r.attempts[1].outcome, "failed");
  }
  EXPECT_EQ(SimRequests("get_weather"), 4);
  int64_t before = clock_.WallMs();
  ToolCallResult r = Call("get_weather", R"({"city":"Oslo"})");
  EXPECT_EQ(r.error_code, "tool_unavailable");
  EXPECT_TRUE(Contains(r.message, "circuit breaker is open")) << r.message;
  EXPECT_GE(r.retry_at_ms, before + 59'000);
  ASSERT_EQ(r.attempts.size(), 1u);
  EXPECT_EQ(r.attempts[0].outcome, "breaker_open");
  EXPECT_EQ(SimRequests("get_weather"), 4);
  EXPECT_EQ(breakers_.Get("tool:get_weather", t.breaker).state(), BreakerState::kOpen);
}

TEST_F(ToolRunnerTest, CancelStopsACallTheToolNeverAnswers) {
  ToolConfig t = SimTool("echo", "echo");
  t.timeout_ms = 120'000;
  Add(t);
  ASSERT_TRUE(StartRunner().ok());
  ASSERT_TRUE(sim_->SetFaults(R"({"tool:echo":{"blackhole_rate":1.0}})").ok());
  auto cancel = std::make_shared<CancelToken>();
  ToolCallRequest req = Request("echo", "{}");
  req.cancel = cancel;
  auto done = std::make_shared<std::promise<ToolCallResult>>();
  auto future = done->get_future();
  runner_->Call(std::move(req), [done](ToolCallResult r) { done->set_value(std::move(r)); });
  ASSERT_TRUE(testing::WaitFor([&] { return SimRequests("echo") == 1; }, 10'000));
  EXPECT_EQ(future.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout)
      << "a blackholed call must still be waiting";
  cancel->Cancel();
  // Far below the tool's 120 s timeout: the cancel, not a timeout, ended it.
  ASSERT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  ToolCallResult r = future.get();
  EXPECT_EQ(r.error_code, "cancelled");
  EXPECT_EQ(SimRequests("echo"), 1);
}

TEST_F(ToolRunnerTest, TimeoutsAreRetriedThenTheToolIsUnavailable) {
  ToolConfig t = SimTool("sleep", "sleep");
  t.timeout_ms = 300;
  t.retry = FastRetry(2);
  Add(t);
  ASSERT_TRUE(StartRunner().ok());
  ToolCallResult r = Call("sleep", R"({"ms":5000})");
  EXPECT_EQ(r.error_code, "tool_unavailable");
  EXPECT_TRUE(Contains(r.message, "timed out")) << r.message;
  EXPECT_GT(r.retry_at_ms, 0);
  ASSERT_EQ(r.attempts.size(), 2u);
  EXPECT_EQ(r.attempts[0].outcome, "retry");
  EXPECT_EQ(r.attempts[1].outcome, "failed");
  EXPECT_EQ(SimRequests("sleep"), 2);
}

TEST_F(ToolRunnerTest, DeadlineCutsTheCallShort) {
  ToolConfig t = SimTool("sleep", "sleep");
  t.timeout_ms = 60'000;
  Add(t);
  ASSERT_TRUE(StartRunner().ok());
  ToolCallRequest req = Request("sleep", R"({"ms":5000})");
  req.deadline_at_ms = clock_.WallMs() + 300;
  ToolCallResult r = CallAndWait(std::move(req)).result;
  EXPECT_EQ(r.error_code, "deadline_exceeded") << r.message;
  EXPECT_EQ(SimRequests("sleep"), 1);

  ToolCallRequest late = Request("sleep", R"({"ms":1})");
  late.deadline_at_ms = clock_.WallMs() - 1;
  r = CallAndWait(std::move(late)).result;
  EXPECT_EQ(r.error_code, "deadline_exceeded");
  EXPECT_EQ(SimRequests("sleep"), 1);
}

TEST_F(ToolRunnerTest, LuaToolComputesAResult) {
  ToolConfig t = LuaTool("order_total", "order_total.lua");
  t.parameters = json::parse(R"({"type":"object","required":["lines"],"properties":{
      "lines":{"type":"array","items":{"type":"object","required":["price","qty"]}},
      "tax_percent":{"type":"number"}}})");
  Add(t);
  ASSERT_TRUE(StartRunner().ok());
  Answer a = CallAndWait(Request(
      "order_total", R"({"tax_percent":10,"lines":[{"price":20,"qty":2},{"price":5,"qty":4}]})"));
  ASSERT_TRUE(a.result.ok) << a.result.error_code << ": " << a.result.message;
  EXPECT_EQ(json::parse(a.result.result_json),
            json::parse(R"({"lines":2,"subtotal":60,"tax":6.0,"total":66.0})"));
  EXPECT_NE(a.thread, std::this_thread::get_id());
  ASSERT_EQ(a.result.attempts.size(), 1u);
  EXPECT_EQ(a.result.attempts[0].outcome, "ok");

  ToolCallResult bad = Call("order_total", R"({"lines":[{"price":1}]})");
  EXPECT_EQ(bad.error_code, "invalid_arguments");
  EXPECT_TRUE(Contains(bad.message, R"(arguments.lines[0]: missing required property "qty")"))
      << bad.message;
}

TEST_F(ToolRunnerTest, LuaErrorIsAToolErrorNamingFileAndLine) {
  Add(LuaTool("reject_order", "reject_order.lua"));
  ASSERT_TRUE(StartRunner().ok());
  ToolCallResult r = Call("reject_order", R"({"id":7})");
  EXPECT_EQ(r.error_code, "tool_error");
  EXPECT_TRUE(Contains(r.message, "testdata/reject_order.lua:4: order 7 is refused")) << r.message;
}

TEST_F(ToolRunnerTest, LuaToolPastItsTimeoutIsStopped) {
  ToolConfig t = LuaTool("spin", "spin.lua");
  t.timeout_ms = 100;
  Add(t);
  ASSERT_TRUE(StartRunner().ok());
  ToolCallResult r = Call("spin", "{}");
  EXPECT_EQ(r.error_code, "tool_error");
  EXPECT_TRUE(Contains(r.message, "ran longer than its timeout of 100 ms")) << r.message;
}

TEST_F(ToolRunnerTest, StopEndsCallsInFlight) {
  ToolConfig t = LuaTool("spin", "spin.lua");
  t.timeout_ms = 600'000;
  Add(t);
  ASSERT_TRUE(StartRunner().ok());
  auto done = std::make_shared<std::promise<ToolCallResult>>();
  auto future = done->get_future();
  runner_->Call(Request("spin", "{}"), [done](ToolCallResult r) { done->set_value(std::move(r)); });
  runner_->Stop();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  ToolCallResult r = future.get();
  EXPECT_EQ(r.error_code, "tool_unavailable");
  EXPECT_EQ(r.message, "the gateway is stopping");
  EXPECT_GT(r.retry_at_ms, 0);
  ToolCallResult after = Call("spin", "{}");
  EXPECT_EQ(after.error_code, "tool_unavailable");
}

TEST_F(ToolRunnerTest, LuaFileThatDoesNotLoadFailsStartNamingTheFile) {
  Add(LuaTool("missing", "no_such_file.lua"));
  Status st = StartRunner();
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(Contains(st.error().message, R"(tool "missing")")) << st.error().message;
  EXPECT_TRUE(Contains(st.error().message, "no_such_file.lua")) << st.error().message;

  std::string dir = testing::ServerProcess::MakeTempDir("keel-tools-");
  std::string file = dir + "/broken.lua";
  FILE* f = std::fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("return function(args)\n  return args.\nend\n", f);
  std::fclose(f);
  config_.tools.clear();
  ToolConfig t;
  t.name = "broken";
  t.kind = "lua";
  t.lua_file = file;
  Add(t);
  st = StartRunner();
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(Contains(st.error().message, file + ":3:")) << st.error().message;
  fs::remove_all(dir);
}

TEST_F(ToolRunnerTest, BadSchemaFailsStart) {
  Add(SimTool("get_weather", "get_weather", R"({"properties":{"city":{"pattern":"("}}})"));
  Status st = StartRunner();
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(Contains(st.error().message,
                       R"(tool "get_weather": parameters: #/properties/city/pattern: invalid)"))
      << st.error().message;
}

TEST_F(ToolRunnerTest, DescribeGivesNameDescriptionAndParameters) {
  Add(SimTool("get_weather", "get_weather", kWeatherSchema));
  Add(SimTool("echo", "echo"));
  ASSERT_TRUE(StartRunner().ok());
  auto d = runner_->Describe("get_weather");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->at("name"), "get_weather");
  EXPECT_EQ(d->at("description"), "sim tool get_weather");
  EXPECT_EQ(d->at("parameters"), json::parse(kWeatherSchema));
  auto e = runner_->Describe("echo");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->at("parameters"), json::parse(R"({"type":"object"})"));
  auto missing = runner_->Describe("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
}

// --- MCP: @modelcontextprotocol/server-everything over stdio ----------------------------

class McpToolRunnerTest : public ToolRunnerTest {
 protected:
  void SetUp() override {
    ToolRunnerTest::SetUp();
    ASSERT_TRUE(fs::exists(EverythingJs()))
        << EverythingJs() << " is missing: run npm ci --prefix test/mcp";
    McpServerConfig s;
    s.name = "everything";
    s.transport = "stdio";
    s.command = {"node", EverythingJs(), "stdio"};
    s.timeout_ms = 20'000;
    config_.mcp_servers["everything"] = s;
  }
  ToolConfig McpTool(const std::string& name, const std::string& mcp_tool) {
    ToolConfig t;
    t.name = name;
    t.kind = "mcp";
    t.mcp_server = "everything";
    t.mcp_tool = mcp_tool;
    return t;
  }
};

TEST_F(McpToolRunnerTest, CallsToolsAndTakesTheirSchemaFromTheServer) {
  Add(McpTool("echo", ""));  // mcp_tool defaults to the tool's name
  Add(McpTool("sum", "get-sum"));
  ASSERT_TRUE(StartRunner().ok());

  auto d = runner_->Describe("echo");
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->at("description").as_string().empty());
  boost::system::error_code ec;
  const json::value* type = d->at("parameters").find_pointer("/properties/message/type", ec);
  ASSERT_NE(type, nullptr) << json::serialize(*d);
  EXPECT_EQ(*type, "string");

  Answer a = CallAndWait(Request("echo", R"({"message":"hello keel"})"));
  ASSERT_TRUE(a.result.ok) << a.result.error_code << ": " << a.result.message;
  EXPECT_NE(a.thread, std::this_thread::get_id());
  EXPECT_TRUE(Contains(json::parse(a.result.result_json).as_string().c_str(), "hello keel"))
      << a.result.result_json;

  ToolCallResult sum = Call("sum", R"({"a":19,"b":23.5})");
  ASSERT_TRUE(sum.ok) << sum.message;
  EXPECT_TRUE(Contains(sum.result_json, "42.5")) << sum.result_json;

  // The server's own schema guards its tools too.
  ToolCallResult bad = Call("echo", R"({"message":5})");
  EXPECT_EQ(bad.error_code, "invalid_arguments");
  EXPECT_TRUE(Contains(bad.message, "arguments.message: expected string")) << bad.message;
}

TEST_F(McpToolRunnerTest, ToolTheServerDoesNotHaveFailsStart) {
  Add(McpTool("ghost", "no-such-tool"));
  Status st = StartRunner();
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(Contains(st.error().message, R"(mcp server "everything" has no tool "no-such-tool")"))
      << st.error().message;
  EXPECT_TRUE(Contains(st.error().message, "echo")) << st.error().message;
}

}  // namespace
}  // namespace keel::gateway
