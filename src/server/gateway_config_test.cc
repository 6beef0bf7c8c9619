#include "server/gateway_config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace keel::server {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// A directory standing in for the one that holds the config file.
class GatewayConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/keel-gwconfig-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    Write("tools/word_count.lua", "return function(args) return 1 end\n");
    setenv("KEEL_TEST_API_KEY", "sk-test-123", 1);
    unsetenv("KEEL_TEST_UNSET_KEY");
  }
  void TearDown() override {
    fs::remove_all(dir_);
    unsetenv("KEEL_TEST_API_KEY");
  }

  void Write(const std::string& rel, const std::string& text) {
    fs::path p = fs::path(dir_) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }

  Result<gateway::GatewayConfig> Gateway(const std::string& text) {
    toml::table t = toml::parse(text);
    return ParseGatewayConfig(t, dir_);
  }

  // The gateway and agents of `text`, or the first error of either.
  Result<std::map<std::string, model::AgentSpec>> Agents(const std::string& text) {
    toml::table t = toml::parse(text);
    auto gw = ParseGatewayConfig(t, dir_);
    if (!gw) return gw.error();
    return ParseAgents(t, *gw, dir_);
  }

  std::string dir_;
};

// A small valid base the error cases extend.
constexpr const char* kBase = R"(
[providers.local]
kind = "openai"
base_url = "http://127.0.0.1:8090/v1"
[models.m1]
provider = "local"
[tools.wc]
kind = "lua"
file = "tools/word_count.lua"
)";

TEST_F(GatewayConfigTest, FullConfigParsesIntoTheStructs) {
  Write("prompts/weather.md", "You answer weather questions.\n");
  toml::table root = toml::parse(R"(
[gateway]
default_model = "default"
tool_result_inline_bytes = 4096

[providers.sim]
kind = "openai"
base_url = "http://127.0.0.1:8090/v1/"
api_key_env = "KEEL_TEST_API_KEY"
headers = { "OpenAI-Organization" = "org-1" }
timeout = "60s"
idle_timeout = "5s"
retry = { max_attempts = 4, base_backoff = "100ms", max_backoff = "2s" }
breaker = { window = "10s", min_requests = 3, failure_rate = 0.25, open = "5s" }

[providers.claude]
kind = "anthropic"
api_key_env = "KEEL_TEST_API_KEY"

[models.sim-large]
provider = "sim"
input_usd_per_mtok = 3
output_usd_per_mtok = 15.5
max_output_tokens = 1024

[models.sim-small]
provider = "sim"
model_id = "small-v2"

[models.haiku]
provider = "claude"
model_id = "claude-haiku"

[chains.default]
models = ["sim-large", "sim-small"]

[mcp_servers.everything]
transport = "stdio"
command = ["npx", "-y", "@modelcontextprotocol/server-everything"]
timeout = "20s"

[mcp_servers.remote]
transport = "http"
url = "http://127.0.0.1:9000/mcp"

[tools.get_weather]
kind = "http"
description = "Current weather for a city"
url = "http://127.0.0.1:8090/tools/get_weather"
method = "get"
parameters = { type = "object", properties = { city = { type = "string" } }, required = ["city"] }
timeout = "10s"
headers = { "X-Team" = "a" }
effect = true
retry = { max_attempts = 1 }

[tools.echo]
kind = "mcp"
server = "everything"

[tools.remote_echo]
kind = "mcp"
server = "remote"
mcp_tool = "echo"
parameters_json = '{"type": "object", "properties": {"text": {"type": "string"}}}'

[tools.word_count]
kind = "lua"
file = "tools/word_count.lua"

[agents.weather_bot]
description = "Answers weather questions"
system_prompt_file = "prompts/weather.md"
tools = ["get_weather", "word_count"]
budget = { deadline = "120s", max_steps = 20, max_tools = 10, max_tokens = 20000, max_context = 8000, max_cost_usd = 0.5 }
loop_detection = { max_repeats = 4 }
degrade_at = 0.7
max_turns = 12
stream = false
output_schema = { type = "object", properties = { answer = { type = "string" } }, required = ["answer"] }

[agents."helper.v2"]
model = "haiku"
system_prompt = "Be brief."
)");
  auto gw = ParseGatewayConfig(root, dir_);
  ASSERT_TRUE(gw.ok()) << gw.error().message;
  auto agents = ParseAgents(root, *gw, dir_);
  ASSERT_TRUE(agents.ok()) << agents.error().message;

  const gateway::ProviderConfig& sim = gw->providers.at("sim");
  EXPECT_EQ(sim.name, "sim");
  EXPECT_EQ(sim.kind, "openai");
  EXPECT_EQ(sim.base_url, "http://127.0.0.1:8090/v1");  // trailing slash dropped
  EXPECT_EQ(sim.api_key, "sk-test-123");
  EXPECT_EQ(sim.api_key_env, "KEEL_TEST_API_KEY");
  ASSERT_EQ(sim.headers.size(), 1u);
  EXPECT_EQ(sim.headers[0].first, "OpenAI-Organization");
  EXPECT_EQ(sim.headers[0].second, "org-1");
  EXPECT_EQ(sim.timeout_ms, 60'000);
  EXPECT_EQ(sim.idle_timeout_ms, 5'000);
  EXPECT_EQ(sim.retry.max_attempts, 4);
  EXPECT_EQ(sim.retry.base_backoff_ms, 100);
  EXPECT_EQ(sim.retry.max_backoff_ms, 2'000);
  EXPECT_EQ(sim.breaker.window_ms, 10'000);
  EXPECT_EQ(sim.breaker.min_requests, 3);
  EXPECT_DOUBLE_EQ(sim.breaker.failure_rate, 0.25);
  EXPECT_EQ(sim.breaker.open_ms, 5'000);

  const gateway::ProviderConfig& claude = gw->providers.at("claude");
  EXPECT_EQ(claude.base_url, "https://api.anthropic.com/v1");  // the kind's default
  EXPECT_EQ(claude.timeout_ms, 120'000);
  EXPECT_EQ(claude.retry.max_attempts, 3);

  const gateway::ModelConfig& large = gw->models.at("sim-large");
  EXPECT_EQ(large.provider, "sim");
  EXPECT_EQ(large.model_id, "sim-large");  // defaults to the table name
  EXPECT_DOUBLE_EQ(large.input_usd_per_mtok, 3.0);
  EXPECT_DOUBLE_EQ(large.output_usd_per_mtok, 15.5);
  EXPECT_EQ(large.max_output_tokens, 1024);
  EXPECT_EQ(gw->models.at("sim-small").model_id, "small-v2");

  EXPECT_EQ(gw->chains.at("default").models, (std::vector<std::string>{"sim-large", "sim-small"}));
  EXPECT_EQ(gw->default_model, "default");
  EXPECT_EQ(gw->tool_result_inline_bytes, 4096);

  const gateway::McpServerConfig& everything = gw->mcp_servers.at("everything");
  EXPECT_EQ(everything.transport, "stdio");
  EXPECT_EQ(everything.command.size(), 3u);
  EXPECT_EQ(everything.timeout_ms, 20'000);

  const gateway::ToolConfig& weather = gw->tools.at("get_weather");
  EXPECT_EQ(weather.kind, "http");
  EXPECT_EQ(weather.url, "http://127.0.0.1:8090/tools/get_weather");
  EXPECT_EQ(weather.method, "GET");
  EXPECT_EQ(weather.timeout_ms, 10'000);
  EXPECT_TRUE(weather.effect);
  EXPECT_EQ(weather.retry.max_attempts, 1);
  EXPECT_EQ(weather.retry.base_backoff_ms, 200);  // unset fields keep their defaults
  ASSERT_EQ(weather.headers.size(), 1u);
  EXPECT_EQ(weather.parameters,
            json::parse(R"({"type":"object","properties":{"city":{"type":"string"}},)"
                        R"("required":["city"]})"));
  const gateway::ToolConfig& echo = gw->tools.at("echo");
  EXPECT_EQ(echo.mcp_server, "everything");
  EXPECT_EQ(echo.mcp_tool, "echo");  // defaults to the table name
  EXPECT_TRUE(echo.parameters.is_null());

  ASSERT_EQ(agents->size(), 2u);
  const model::AgentSpec& bot = agents->at("weather_bot");
  EXPECT_EQ(bot.name, "weather_bot");
  EXPECT_EQ(bot.description, "Answers weather questions");
  EXPECT_EQ(bot.model, "default");  // gateway.default_model
  EXPECT_EQ(bot.system_prompt, "You answer weather questions.\n");
  EXPECT_EQ(bot.tools, (std::vector<std::string>{"get_weather", "word_count"}));
  EXPECT_EQ(bot.budget.deadline_ms, 120'000);
  EXPECT_EQ(bot.budget.max_steps, 20);
  EXPECT_EQ(bot.budget.max_tools, 10);
  EXPECT_EQ(bot.budget.max_tokens, 20'000);
  EXPECT_EQ(bot.budget.max_context, 8'000);
  EXPECT_DOUBLE_EQ(bot.budget.max_cost_usd, 0.5);
  EXPECT_EQ(bot.loop_max_repeats, 4);
  EXPECT_DOUBLE_EQ(bot.degrade_at, 0.7);
  EXPECT_EQ(bot.max_turns, 12);
  EXPECT_FALSE(bot.stream);
  EXPECT_EQ(bot.output_schema,
            json::parse(R"({"type":"object","properties":{"answer":{"type":"string"}},)"
                        R"("required":["answer"]})"));
  const model::AgentSpec& helper = agents->at("helper.v2");
  EXPECT_EQ(helper.model, "haiku");
  EXPECT_EQ(helper.system_prompt, "Be brief.");
  EXPECT_TRUE(helper.tools.empty());
  EXPECT_EQ(helper.loop_max_repeats, 3);  // defaults
  EXPECT_DOUBLE_EQ(helper.degrade_at, 0.8);
  EXPECT_EQ(helper.max_turns, 20);
  EXPECT_TRUE(helper.stream);
  EXPECT_TRUE(helper.output_schema.is_null());
  EXPECT_EQ(helper.budget.max_steps, 0);
}

TEST_F(GatewayConfigTest, EveryValidationErrorNamesTheKey) {
  struct Case {
    std::string extra;  // appended to kBase
    const char* expect;
  } cases[] = {
      // [gateway]
      {"[gateway]\ndefault_model = \"nope\"\n", "gateway.default_model: unknown model or chain"},
      {"[gateway]\ntool_result_inline_bytes = -1\n", "gateway.tool_result_inline_bytes"},
      {"[gateway]\ndefault = \"m1\"\n", "gateway.default: unknown key"},
      // providers
      {"[providers.p]\nbase_url = \"http://127.0.0.1/v1\"\n", "providers.p.kind: is required"},
      {"[providers.p]\nkind = \"gemini\"\n", "providers.p.kind: must be \"openai\" or"},
      {"[providers.p]\nkind = \"openai\"\nbase_url = \"ftp://x\"\n", "providers.p.base_url"},
      {"[providers.p]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1\"\ntimeout = 30\n",
       "providers.p.timeout: must be a duration"},
      {"[providers.p]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1\"\nidle_timeout = \"0s\"\n",
       "providers.p.idle_timeout: must be more than 0"},
      {"[providers.p]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1\"\nretry = { max_attempts "
       "= 0 }\n",
       "providers.p.retry.max_attempts"},
      {"[providers.p]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1\"\n"
       "retry = { base_backoff = \"5s\", max_backoff = \"1s\" }\n",
       "providers.p.retry.max_backoff"},
      {"[providers.p]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1\"\nretry = { tries = 2 }\n",
       "providers.p.retry.tries: unknown key"},
      {"[providers.p]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1\"\n"
       "breaker = { failure_rate = 1.5 }\n",
       "providers.p.breaker.failure_rate"},
      {"[providers.p]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1\"\nbreaker = { open = "
       "\"x\" }\n",
       "providers.p.breaker.open"},
      {"[providers.p]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1\"\nheaders = { X-A = 1 }\n",
       "providers.p.headers.X-A: must be a string"},
      {"[providers.p]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1\"\nmodel = \"x\"\n",
       "providers.p.model: unknown key"},
      {"[providers.p]\nkind = \"openai\"\n",
       "providers.p: provider p at https://api.openai.com/v1 "
       "needs an API key"},
      {"[providers.p]\nkind = \"openai\"\napi_key_env = \"K\"\napi_key_file = \"f\"\n",
       "providers.p: set api_key_env or api_key_file, not both"},
      {"[providers]\np = 3\n", "providers.p: must be a table"},
      // models
      {"[models.m2]\nprovider = \"nope\"\n", "models.m2.provider: unknown provider \"nope\""},
      {"[models.m2]\nmodel_id = \"x\"\n", "models.m2.provider: is required"},
      {"[models.m2]\nprovider = \"local\"\ninput_usd_per_mtok = -1\n",
       "models.m2.input_usd_per_mtok"},
      {"[models.m2]\nprovider = \"local\"\nmax_output_tokens = \"many\"\n",
       "models.m2.max_output_tokens"},
      {"[models.m2]\nprovider = \"local\"\nprice = 1\n", "models.m2.price: unknown key"},
      // chains
      {"[chains.c]\nmodels = [\"m1\", \"ghost\"]\n", "chains.c.models: unknown model \"ghost\""},
      {"[chains.c]\nmodels = []\n", "chains.c.models: must name at least one model"},
      {"[chains.c]\n", "chains.c.models: is required"},
      {"[chains.c]\nmodels = [\"m1\", \"m1\"]\n", "chains.c.models: lists \"m1\" twice"},
      {"[chains.m1]\nmodels = [\"m1\"]\n", "chains.m1: a model has the same name"},
      {"[chains.c]\nmodels = [\"m1\"]\nfallback = true\n", "chains.c.fallback: unknown key"},
      // mcp servers
      {"[mcp_servers.s]\ntransport = \"ws\"\n", "mcp_servers.s.transport: must be \"stdio\" or"},
      {"[mcp_servers.s]\ntransport = \"stdio\"\n", "mcp_servers.s.command: is required"},
      {"[mcp_servers.s]\ntransport = \"http\"\n", "mcp_servers.s.url: is required"},
      {"[mcp_servers.s]\ntransport = \"http\"\nurl = \"http://h/mcp\"\ncommand = [\"x\"]\n",
       "mcp_servers.s.command: is for transport \"stdio\" only"},
      {"[mcp_servers.s]\ncommand = [\"x\"]\n", "mcp_servers.s.transport: is required"},
      // tools
      {"[tools.t]\nkind = \"grpc\"\n", "tools.t.kind: must be \"http\", \"mcp\" or \"lua\""},
      {"[tools.t]\ndescription = \"x\"\n", "tools.t.kind: is required"},
      {"[tools.t]\nkind = \"http\"\n", "tools.t.url: is required for kind \"http\""},
      {"[tools.t]\nkind = \"http\"\nurl = \"http://h/t\"\nmethod = \"FETCH\"\n", "tools.t.method"},
      {"[tools.t]\nkind = \"mcp\"\nserver = \"nope\"\n", "tools.t.server: unknown MCP server"},
      {"[tools.t]\nkind = \"mcp\"\n", "tools.t.server: is required"},
      {"[tools.t]\nkind = \"lua\"\n", "tools.t.file: is required"},
      {"[tools.t]\nkind = \"lua\"\nfile = \"tools/missing.lua\"\n", "tools.t.file: no such file"},
      {"[tools.t]\nkind = \"lua\"\nfile = \"tools/word_count.lua\"\nurl = \"http://h\"\n",
       "tools.t.url: is for kind = \"http\" only"},
      {"[tools.t]\nkind = \"lua\"\nfile = \"tools/word_count.lua\"\nparameters = \"object\"\n",
       "tools.t.parameters: must be a table"},
      {"[tools.t]\nkind = \"lua\"\nfile = \"tools/word_count.lua\"\n"
       "parameters = { type = \"array\" }\n",
       "tools.t.parameters: must describe an object"},
      {"[tools.t]\nkind = \"lua\"\nfile = \"tools/word_count.lua\"\nparameters_json = \"{nope\"\n",
       "tools.t.parameters_json: is not valid JSON"},
      {"[tools.t]\nkind = \"lua\"\nfile = \"tools/word_count.lua\"\nparameters_json = \"[1]\"\n",
       "tools.t.parameters_json: must be a table"},
      {"[tools.t]\nkind = \"lua\"\nfile = \"tools/word_count.lua\"\nparameters = {}\n"
       "parameters_json = \"{}\"\n",
       "tools.t: set parameters or parameters_json, not both"},
      {"[tools.t]\nkind = \"lua\"\nfile = \"tools/word_count.lua\"\neffect = \"yes\"\n",
       "tools.t.effect: must be true or false"},
      {"[tools.t]\nkind = \"lua\"\nfile = \"tools/word_count.lua\"\nscript = \"x\"\n",
       "tools.t.script: unknown key"},
      {"[tools.\"bad name\"]\nkind = \"lua\"\nfile = \"tools/word_count.lua\"\n",
       "tools.bad name: tool names must be"},
      {"[tools.t]\nkind = \"lua\"\nfile = \"tools/word_count.lua\"\ncompensate_with = \"ghost\"\n",
       "tools.t.compensate_with: unknown tool \"ghost\""},
      {"[tools.t]\nkind = \"lua\"\nfile = \"tools/word_count.lua\"\ncompensate_with = \"t\"\n",
       "tools.t.compensate_with: a tool cannot undo itself"},
      {"[tools.t]\nkind = \"lua\"\nfile = \"tools/word_count.lua\"\ncompensate_with = \"\"\n",
       "tools.t.compensate_with: must name a [tools.*] tool"},
      {"[tools.t]\nkind = \"lua\"\nfile = \"tools/word_count.lua\"\ncompensate_with = 1\n",
       "tools.t.compensate_with: must be a string"},
      // The approval webhook is not a [tools.*] tool, even when [approvals] configures it.
      {"[tools.t]\nkind = \"lua\"\nfile = \"tools/word_count.lua\"\n"
       "compensate_with = \"$approval_webhook\"\n[approvals]\nwebhook_url = \"http://h/hook\"\n",
       "tools.t.compensate_with: unknown tool \"$approval_webhook\""},
      {"[tools.t]\nkind = \"lua\"\nfile = \"tools/word_count.lua\"\noutbox_max_attempts = 0\n",
       "tools.t.outbox_max_attempts: must be an integer from 1 to 1000"},
      {"[tools.t]\nkind = \"lua\"\nfile = \"tools/word_count.lua\"\noutbox_max_attempts = 1001\n",
       "tools.t.outbox_max_attempts: must be an integer from 1 to 1000"},
      {"[tools.t]\nkind = \"lua\"\nfile = \"tools/word_count.lua\"\noutbox_max_attempts = "
       "\"5\"\n",
       "tools.t.outbox_max_attempts: must be an integer from 1 to 1000"},
  };
  for (const auto& tc : cases) {
    auto gw = Gateway(std::string(kBase) + tc.extra);
    ASSERT_FALSE(gw.ok()) << tc.extra;
    EXPECT_EQ(gw.error().code, Errc::kInvalidArgument);
    EXPECT_NE(gw.error().message.find(tc.expect), std::string::npos)
        << tc.extra << " -> " << gw.error().message;
  }
}

TEST_F(GatewayConfigTest, AgentValidationErrorsNameTheKey) {
  struct Case {
    std::string extra;  // appended to kBase
    const char* expect;
  } cases[] = {
      {"[agents.a]\nmodel = \"ghost\"\n", "agents.a.model: unknown model or chain \"ghost\""},
      {"[agents.a]\ntools = [\"wc\", \"ghost\"]\n", "agents.a.tools: unknown tool \"ghost\""},
      {"[agents.a]\ntools = [\"wc\", \"wc\"]\n", "agents.a.tools: lists \"wc\" twice"},
      {"[agents.a]\ntools = \"wc\"\n", "agents.a.tools: must be an array of strings"},
      {"[agents.\"a b\"]\n", "agents.a b: agent names are made of"},
      {"[agents.\"a/b\"]\n", "agents.a/b: agent names are made of"},
      {"[agents.a]\nbudget = { deadline = \"soon\" }\n", "agents.a.budget.deadline"},
      {"[agents.a]\nbudget = { max_steps = -1 }\n", "agents.a.budget.max_steps"},
      {"[agents.a]\nbudget = { max_cost_usd = \"1\" }\n", "agents.a.budget.max_cost_usd"},
      {"[agents.a]\nbudget = { steps = 3 }\n", "agents.a.budget.steps: unknown key"},
      {"[agents.a]\nbudget = 5\n", "agents.a.budget: must be a table"},
      {"[agents.a]\nloop_detection = { max_repeats = 1 }\n", "agents.a.loop_detection.max_repeats"},
      {"[agents.a]\nloop_detection = { window = 3 }\n", "agents.a.loop_detection.window"},
      {"[agents.a]\ndegrade_at = 0\n", "agents.a.degrade_at"},
      {"[agents.a]\ndegrade_at = 1.5\n", "agents.a.degrade_at"},
      {"[agents.a]\nmax_turns = 0\n", "agents.a.max_turns"},
      {"[agents.a]\nstream = 1\n", "agents.a.stream: must be true or false"},
      {"[agents.a]\noutput_schema = \"json\"\n", "agents.a.output_schema: must be a table"},
      {"[agents.a]\nsystem_prompt_file = \"prompts/missing.md\"\n",
       "agents.a.system_prompt_file: no such file"},
      {"[agents.a]\nsystem_prompt = \"x\"\nsystem_prompt_file = \"p.md\"\n",
       "agents.a: set system_prompt or system_prompt_file, not both"},
      {"[agents.a]\ninstructions = \"x\"\n", "agents.a.instructions: unknown key"},
      {"[agents]\na = \"x\"\n", "agents.a: must be a table"},
  };
  for (const auto& tc : cases) {
    auto agents = Agents(std::string(kBase) + tc.extra);
    ASSERT_FALSE(agents.ok()) << tc.extra;
    EXPECT_NE(agents.error().message.find(tc.expect), std::string::npos)
        << tc.extra << " -> " << agents.error().message;
  }
}

TEST_F(GatewayConfigTest, CompensateWithAndOutboxMaxAttemptsReachTheToolConfig) {
  // "book" names a tool defined after it: references are checked once every tool is known.
  auto gw = Gateway(R"(
[tools.book]
kind = "http"
url = "http://127.0.0.1:9/book"
effect = true
compensate_with = "unbook"
outbox_max_attempts = 5
[tools.unbook]
kind = "http"
url = "http://127.0.0.1:9/unbook"
effect = true
)");
  ASSERT_TRUE(gw.ok()) << gw.error().message;
  const gateway::ToolConfig& book = gw->tools.at("book");
  EXPECT_TRUE(book.effect);
  EXPECT_EQ(book.compensate_with, "unbook");
  EXPECT_EQ(book.outbox_max_attempts, 5);
  const gateway::ToolConfig& unbook = gw->tools.at("unbook");
  EXPECT_EQ(unbook.compensate_with, "");
  EXPECT_EQ(unbook.outbox_max_attempts, 10);
}

// The gateway, then [approvals] on it, or the first error of either.
Result<std::pair<gateway::GatewayConfig, ApprovalsConfig>> ParseWithApprovals(
    const std::string& text, const std::string& dir) {
  toml::table t = toml::parse(text);
  auto gw = ParseGatewayConfig(t, dir);
  if (!gw) return gw.error();
  auto approvals = ParseApprovals(t, *gw);
  if (!approvals) return approvals.error();
  return std::make_pair(std::move(*gw), std::move(*approvals));
}

TEST_F(GatewayConfigTest, ApprovalsWebhookBecomesAnHttpTool) {
  auto parsed = ParseWithApprovals(std::string(kBase) + R"(
[approvals]
webhook_url = "http://127.0.0.1:9/approvals"
notify_max_attempts = 7
headers = { Authorization = "Bearer hook-secret" }
)",
                                   dir_);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const auto& [gw, approvals] = *parsed;
  EXPECT_EQ(approvals.webhook_url, "http://127.0.0.1:9/approvals");
  EXPECT_EQ(approvals.notify_tool, "$approval_webhook");
  EXPECT_EQ(approvals.notify_tool, kApprovalWebhookTool);
  EXPECT_EQ(approvals.notify_max_attempts, 7);
  ASSERT_TRUE(gw.tools.count("$approval_webhook"));
  const gateway::ToolConfig& hook = gw.tools.at("$approval_webhook");
  EXPECT_EQ(hook.name, "$approval_webhook");
  EXPECT_EQ(hook.kind, "http");
  EXPECT_EQ(hook.method, "POST");
  EXPECT_EQ(hook.url, "http://127.0.0.1:9/approvals");
  EXPECT_TRUE(hook.parameters.is_null());
  EXPECT_FALSE(hook.effect);
  EXPECT_EQ(hook.outbox_max_attempts, 7);
  ASSERT_EQ(hook.headers.size(), 1u);
  EXPECT_EQ(hook.headers[0].first, "Authorization");
  EXPECT_EQ(hook.headers[0].second, "Bearer hook-secret");
  // The configured tools are untouched.
  EXPECT_TRUE(gw.tools.count("wc"));

  // Without a URL, nothing is announced and there is no webhook tool.
  for (const std::string extra : {"", "[approvals]\nnotify_max_attempts = 3\n"}) {
    auto plain = ParseWithApprovals(std::string(kBase) + extra, dir_);
    ASSERT_TRUE(plain.ok()) << plain.error().message;
    EXPECT_EQ(plain->second.notify_tool, "");
    EXPECT_EQ(plain->second.webhook_url, "");
    EXPECT_EQ(plain->first.tools.count("$approval_webhook"), 0u);
  }
  auto defaults = ParseWithApprovals(
      std::string(kBase) + "[approvals]\nwebhook_url = \"https://hooks.example.com/x\"\n", dir_);
  ASSERT_TRUE(defaults.ok()) << defaults.error().message;
  EXPECT_EQ(defaults->second.notify_max_attempts, 10);
  EXPECT_EQ(defaults->first.tools.at("$approval_webhook").outbox_max_attempts, 10);
}

TEST_F(GatewayConfigTest, ApprovalsErrorsNameTheKey) {
  struct Case {
    std::string extra;  // appended to kBase
    const char* expect;
  } cases[] = {
      {"[approvals]\nwebhook_url = \"ftp://h/x\"\n",
       "approvals.webhook_url: must be an http:// or https:// URL"},
      {"[approvals]\nwebhook_url = \"\"\n",
       "approvals.webhook_url: must be an http:// or https:// URL"},
      {"[approvals]\nwebhook_url = 1\n", "approvals.webhook_url: must be a string"},
      {"[approvals]\nnotify_max_attempts = 0\n",
       "approvals.notify_max_attempts: must be an integer from 1 to 1000"},
      {"[approvals]\nnotify_max_attempts = 1001\n",
       "approvals.notify_max_attempts: must be an integer from 1 to 1000"},
      {"[approvals]\nwebhook = \"http://h/x\"\n", "approvals.webhook: unknown key"},
      {"[approvals]\nheaders = { A = \"b\" }\n", "approvals.headers: needs webhook_url"},
      {"[approvals]\nwebhook_url = \"http://h/x\"\nheaders = { A = 1 }\n",
       "approvals.headers.A: must be a string"},
  };
  for (const auto& tc : cases) {
    auto parsed = ParseWithApprovals(std::string(kBase) + tc.extra, dir_);
    ASSERT_FALSE(parsed.ok()) << tc.extra;
    EXPECT_EQ(parsed.error().code, Errc::kInvalidArgument);
    EXPECT_NE(parsed.error().message.find(tc.expect), std::string::npos)
        << tc.extra << " -> " << parsed.error().message;
  }
  // A top-level key, so before kBase's tables.
  auto scalar = ParseWithApprovals("approvals = 3\n" + std::string(kBase), dir_);
  ASSERT_FALSE(scalar.ok());
  EXPECT_EQ(scalar.error().message, "config approvals: must be a table");
}

TEST_F(GatewayConfigTest, AgentsCannotBeGivenTheApprovalWebhook) {
  toml::table t = toml::parse(std::string(kBase) +
                              "[approvals]\nwebhook_url = \"http://h/x\"\n"
                              "[agents.a]\ntools = [\"wc\", \"$approval_webhook\"]\n");
  auto gw = ParseGatewayConfig(t, dir_);
  ASSERT_TRUE(gw.ok()) << gw.error().message;
  ASSERT_TRUE(ParseApprovals(t, *gw).ok());
  auto agents = ParseAgents(t, *gw, dir_);
  ASSERT_FALSE(agents.ok());
  EXPECT_NE(agents.error().message.find("agents.a.tools: unknown tool \"$approval_webhook\""),
            std::string::npos)
      << agents.error().message;
}

TEST_F(GatewayConfigTest, AgentWithoutModelNeedsADefault) {
  // Two models, no chain: nothing to default to.
  auto agents = Agents(std::string(kBase) + "[models.m2]\nprovider = \"local\"\n[agents.a]\n");
  ASSERT_FALSE(agents.ok());
  EXPECT_NE(agents.error().message.find("agents.a.model: is required"), std::string::npos)
      << agents.error().message;

  // One model: it is the default, and the agent takes it.
  agents = Agents(std::string(kBase) + "[agents.a]\n");
  ASSERT_TRUE(agents.ok()) << agents.error().message;
  EXPECT_EQ(agents->at("a").model, "m1");
}

TEST_F(GatewayConfigTest, DefaultModelFallsBackToTheOnlyChainOrModel) {
  auto gw = Gateway(kBase);
  ASSERT_TRUE(gw.ok()) << gw.error().message;
  EXPECT_EQ(gw->default_model, "m1");

  gw = Gateway(std::string(kBase) + "[models.m2]\nprovider = \"local\"\n");
  ASSERT_TRUE(gw.ok()) << gw.error().message;
  EXPECT_EQ(gw->default_model, "");  // two models, no chain: ambiguous

  gw = Gateway(std::string(kBase) +
               "[models.m2]\nprovider = \"local\"\n[chains.c]\nmodels = [\"m2\", \"m1\"]\n");
  ASSERT_TRUE(gw.ok()) << gw.error().message;
  EXPECT_EQ(gw->default_model, "c");

  gw = Gateway(std::string(kBase) +
               "[models.m2]\nprovider = \"local\"\n"
               "[gateway]\ndefault_model = \"m2\"\n");
  ASSERT_TRUE(gw.ok()) << gw.error().message;
  EXPECT_EQ(gw->default_model, "m2");
}

TEST_F(GatewayConfigTest, ApiKeyComesFromTheEnvironment) {
  auto gw = Gateway(R"(
[providers.openai]
kind = "openai"
base_url = "https://api.openai.com/v1"
api_key_env = "KEEL_TEST_API_KEY"
)");
  ASSERT_TRUE(gw.ok()) << gw.error().message;
  EXPECT_EQ(gw->providers.at("openai").api_key, "sk-test-123");

  // Unset, or set but empty: an error naming both the provider and the variable.
  for (bool empty : {false, true}) {
    if (empty) setenv("KEEL_TEST_UNSET_KEY", "", 1);
    gw = Gateway(R"(
[providers.openai]
kind = "openai"
api_key_env = "KEEL_TEST_UNSET_KEY"
)");
    ASSERT_FALSE(gw.ok());
    const std::string& m = gw.error().message;
    EXPECT_NE(m.find("providers.openai.api_key_env"), std::string::npos) << m;
    EXPECT_NE(m.find("KEEL_TEST_UNSET_KEY"), std::string::npos) << m;
    EXPECT_NE(m.find("provider openai"), std::string::npos) << m;
  }
  unsetenv("KEEL_TEST_UNSET_KEY");
}

TEST_F(GatewayConfigTest, LoopbackProviderMayHaveNoKey) {
  for (const char* url : {"http://127.0.0.1:8090/v1", "http://localhost:11434/v1",
                          "http://[::1]:8000/v1", "http://127.0.0.2/v1"}) {
    auto gw = Gateway(std::string("[providers.local]\nkind = \"openai\"\nbase_url = \"") + url +
                      "\"\napi_key_env = \"KEEL_TEST_UNSET_KEY\"\n");
    ASSERT_TRUE(gw.ok()) << url << ": " << gw.error().message;
    EXPECT_EQ(gw->providers.at("local").api_key, "");
  }
  // Neither a look-alike host nor a user name makes a remote server local.
  for (const char* url :
       {"http://127.0.0.1.evil.com/v1", "http://localhost@evil.com/v1", "https://example.com/v1"}) {
    auto gw =
        Gateway(std::string("[providers.remote]\nkind = \"openai\"\nbase_url = \"") + url + "\"\n");
    ASSERT_FALSE(gw.ok()) << url;
    EXPECT_NE(gw.error().message.find("providers.remote"), std::string::npos);
  }
}

TEST_F(GatewayConfigTest, LiteralApiKeyIsRefused) {
  auto gw = Gateway(R"(
[providers.openai]
kind = "openai"
base_url = "http://127.0.0.1:8090/v1"
api_key = "sk-live-abc"
)");
  ASSERT_FALSE(gw.ok());
  EXPECT_NE(gw.error().message.find("providers.openai.api_key: keys are never read from the "
                                    "config file; set api_key_env or api_key_file"),
            std::string::npos)
      << gw.error().message;
  // The key itself is never echoed back.
  EXPECT_EQ(gw.error().message.find("sk-live-abc"), std::string::npos);
}

TEST_F(GatewayConfigTest, ApiKeyFileIsTrimmedAndRelativeToTheConfig) {
  Write("secrets/anthropic", "  sk-ant-xyz\n\n");
  auto gw = Gateway(R"(
[providers.claude]
kind = "anthropic"
api_key_file = "secrets/anthropic"
)");
  ASSERT_TRUE(gw.ok()) << gw.error().message;
  const gateway::ProviderConfig& p = gw->providers.at("claude");
  EXPECT_EQ(p.api_key, "sk-ant-xyz");
  EXPECT_EQ(p.api_key_file, (fs::path(dir_) / "secrets/anthropic").string());

  gw = Gateway(R"(
[providers.claude]
kind = "anthropic"
base_url = "http://127.0.0.1:8090/v1"
api_key_file = "secrets/missing"
)");
  ASSERT_FALSE(gw.ok());
  EXPECT_NE(gw.error().message.find("providers.claude.api_key_file"), std::string::npos)
      << gw.error().message;

  Write("secrets/empty", "\n");
  gw = Gateway("[providers.c]\nkind = \"anthropic\"\napi_key_file = \"secrets/empty\"\n");
  ASSERT_FALSE(gw.ok());
  EXPECT_NE(gw.error().message.find("providers.c.api_key_file"), std::string::npos);
}

TEST_F(GatewayConfigTest, LuaFileIsResolvedAgainstTheConfigDirectory) {
  auto gw = Gateway(kBase);
  ASSERT_TRUE(gw.ok()) << gw.error().message;
  std::string resolved = gw->tools.at("wc").lua_file;
  EXPECT_EQ(resolved, (fs::path(dir_) / "tools/word_count.lua").string());
  EXPECT_TRUE(fs::path(resolved).is_absolute());

  // An absolute path is taken as it is, wherever the config lives.
  Write("elsewhere/tool.lua", "return function(args) return 2 end\n");
  std::string abs = (fs::path(dir_) / "elsewhere/tool.lua").string();
  toml::table t = toml::parse("[tools.x]\nkind = \"lua\"\nfile = \"" + abs + "\"\n");
  auto other = ParseGatewayConfig(t, "/nonexistent-config-dir");
  ASSERT_TRUE(other.ok()) << other.error().message;
  EXPECT_EQ(other->tools.at("x").lua_file, abs);

  // The same relative path from another config directory does not exist.
  toml::table rel = toml::parse("[tools.x]\nkind = \"lua\"\nfile = \"tools/word_count.lua\"\n");
  auto missing = ParseGatewayConfig(rel, "/nonexistent-config-dir");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("/nonexistent-config-dir/tools/word_count.lua"),
            std::string::npos)
      << missing.error().message;
}

TEST_F(GatewayConfigTest, ParametersBecomeAJsonSchema) {
  auto gw = Gateway(std::string(kBase) + R"(
[tools.add]
kind = "http"
url = "http://127.0.0.1:8090/tools/add"
[tools.add.parameters]
type = "object"
required = ["a", "b"]
additionalProperties = false
[tools.add.parameters.properties.a]
type = "number"
minimum = -1.5
[tools.add.parameters.properties.b]
type = "integer"
maximum = 10

[tools.lookup]
kind = "http"
url = "http://127.0.0.1:8090/tools/lookup"
parameters_json = '''{"type": "object", "properties": {"q": {"type": "string", "maxLength": 5}}}'''
)");
  ASSERT_TRUE(gw.ok()) << gw.error().message;
  EXPECT_EQ(gw->tools.at("add").parameters,
            json::parse(R"({"type": "object", "required": ["a", "b"],
                            "additionalProperties": false,
                            "properties": {"a": {"type": "number", "minimum": -1.5},
                                           "b": {"type": "integer", "maximum": 10}}})"));
  const json::value& b = gw->tools.at("add").parameters.at("properties").at("b").at("maximum");
  EXPECT_TRUE(b.is_int64());  // TOML integers stay integers
  EXPECT_EQ(gw->tools.at("lookup").parameters,
            json::parse(R"({"type": "object", "properties": {"q": {"type": "string",
                                                                   "maxLength": 5}}})"));
}

TEST(TomlToJson, ConvertsEveryKind) {
  toml::table t = toml::parse(R"(
s = "x"
i = 7
f = 0.5
b = true
a = [1, "two", { three = 3 }]
d = 2024-05-01
)");
  EXPECT_EQ(TomlToJson(t), json::parse(R"({"s": "x", "i": 7, "f": 0.5, "b": true,
                                           "a": [1, "two", {"three": 3}],
                                           "d": "2024-05-01"})"));
}

}  // namespace
}  // namespace keel::server
