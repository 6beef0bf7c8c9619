#include "server/config.h"

#include <gtest/gtest.h>

#include <cstdio>
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

TEST(Config, MissingFileIsAnError) {
  ServeFlags flags;
  flags.config_file = "/nonexistent/keel.toml";
  EXPECT_FALSE(LoadConfig(flags).ok());
}

}  // namespace
}  // namespace keel::server
