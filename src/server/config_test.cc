#include "server/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace keel::server {
namespace {

std::string WriteTemp(const std::string& text) {
  char path[] = "/tmp/keel-config-XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  std::ofstream(path) << text;
  close(fd);
  return path;
}

TEST(Config, DefaultsThenFileThenFlags) {
  std::string file = WriteTemp(R"(
[server]
listen = "127.0.0.1:9000"
data_dir = "/var/lib/keel"
drain_timeout = "30s"
[store]
synchronous = "normal"
[engine]
executor_threads = 4
)");
  ServeFlags flags;
  flags.config_file = file;
  flags.listen = "127.0.0.1:0";
  auto c = LoadConfig(flags);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->listen, "127.0.0.1:0");  // flag wins
  EXPECT_EQ(c->data_dir, "/var/lib/keel");
  EXPECT_EQ(c->drain_timeout_ms, 30'000);
  EXPECT_EQ(c->synchronous, "normal");
  EXPECT_EQ(c->executor_threads, 4);
  EXPECT_EQ(c->workflows_dir, "./examples");  // default
  std::remove(file.c_str());
}

TEST(Config, BadInputNamesTheKey) {
  struct Case {
    const char* text;
    const char* expect;
  } cases[] = {
      {"[server]\nlisten = 5\n", "server.listen"},
      {"[store]\nsynchronous = \"maybe\"\n", "store.synchronous"},
      {"[engine]\nlease_ttl = \"forever\"\n", "engine.lease_ttl"},
      {"[engine]\nexecutor_threads = 0\n", "engine.executor_threads"},
      {"[server]\nlisten_addr = \"x\"\n", "server.listen_addr"},
      {"[nope]\n", "nope"},
      {"[agent.x]\n", "agent"},  // the section is [agents.x]
      {"[models.m]\nprovider = \"ghost\"\n", "models.m.provider: unknown provider"},
      {"[tools.t]\nkind = \"lua\"\nfile = \"no-such-tool.lua\"\n", "tools.t.file"},
      {"[server\n", ":1:"},
  };
  for (const auto& tc : cases) {
    std::string file = WriteTemp(tc.text);
    ServeFlags flags;
    flags.config_file = file;
    auto c = LoadConfig(flags);
    ASSERT_FALSE(c.ok()) << tc.text;
    EXPECT_NE(c.error().message.find(tc.expect), std::string::npos)
        << tc.text << " -> " << c.error().message;
    std::remove(file.c_str());
  }
}

TEST(Config, ReadsGatewayAndAgentsRelativeToTheFile) {
  char tmpl[] = "/tmp/keel-config-dir-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::filesystem::path dir = tmpl;
  std::filesystem::create_directories(dir / "tools");
  std::ofstream(dir / "tools/t.lua") << "return function(args) return args end\n";
  std::ofstream(dir / "keel.toml") << R"(
[server]
listen = "127.0.0.1:9000"
[providers.local]
kind = "openai"
base_url = "http://127.0.0.1:8090/v1"
[models.m]
provider = "local"
[tools.t]
kind = "lua"
file = "tools/t.lua"
[agents.bot]
tools = ["t"]
)";
  ServeFlags flags;
  flags.config_file = (dir / "keel.toml").string();
  auto c = LoadConfig(flags);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->listen, "127.0.0.1:9000");
  EXPECT_EQ(c->gateway.default_model, "m");
  EXPECT_EQ(c->gateway.tools.at("t").lua_file, (dir / "tools/t.lua").string());
  ASSERT_EQ(c->agents.count("bot"), 1u);
  EXPECT_EQ(c->agents.at("bot").model, "m");
  std::filesystem::remove_all(dir);
}

// examples/keel.toml is what `make run` serves: it must stay valid.
TEST(Config, TheExampleConfigLoads) {
  const char* src = std::getenv("KEEL_SOURCE_DIR");
  ASSERT_NE(src, nullptr) << "run through ctest (KEEL_SOURCE_DIR)";
  ServeFlags flags;
  flags.config_file = std::string(src) + "/examples/keel.toml";
  auto c = LoadConfig(flags);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->gateway.default_model, "default");
  EXPECT_EQ(c->gateway.providers.at("sim-anthropic").kind, "anthropic");
  EXPECT_EQ(c->gateway.chains.at("default").models,
            (std::vector<std::string>{"sim-large", "sim-small"}));
  const model::AgentSpec& bot = c->agents.at("weather_bot");
  EXPECT_EQ(bot.tools, (std::vector<std::string>{"get_weather", "add", "word_count"}));
  EXPECT_TRUE(std::filesystem::is_regular_file(c->gateway.tools.at("word_count").lua_file));
}

TEST(Config, MissingFileIsAnError) {
  ServeFlags flags;
  flags.config_file = "/nonexistent/keel.toml";
  EXPECT_FALSE(LoadConfig(flags).ok());
}

}  // namespace
}  // namespace keel::server
