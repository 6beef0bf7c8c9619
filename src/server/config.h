#pragma once

#include <map>
#include <string>

#include "base/result.h"
#include "gateway/config.h"
#include "model/agent.h"
#include "server/gateway_config.h"
#include "server/serve.h"

namespace keel::server {

// Everything `keel serve` can be told, with its defaults. docs/configuration.md lists each
// key of the TOML file.
struct Config {
  std::string data_dir = "./data";
  std::string listen = "127.0.0.1:8080";
  std::string workflows_dir = "./examples";
  std::string lib_dir = "./lib";
  std::string port_file;
  int64_t drain_timeout_ms = 10'000;
  int http_threads = 1;
  std::string synchronous = "full";
  int read_connections = 4;
  int64_t max_page_count = 0;
  int executor_threads = 2;
  int64_t lease_ttl_ms = 15'000;
  int64_t resident_sleep_ms = 1'000;
  int loop_max_repeats = 3;  // workflows' loop detection (agents set their own)
  int64_t lua_max_memory_mb = 64;
  int64_t lua_max_instructions = 200'000'000;
  std::string log_level = "info";
  // [gateway], [providers.*], [models.*], [chains.*], [mcp_servers.*], [tools.*]
  gateway::GatewayConfig gateway;
  // [approvals]: where approval notifications go (a webhook delivered through the outbox)
  ApprovalsConfig approvals;
  // [agents.*], by name (each is also the intent that runs it)
  std::map<std::string, model::AgentSpec> agents;
};

// Defaults, then the TOML file named by flags.config_file (if any), then the flags.
// Unknown keys and bad values are errors that name the key.
Result<Config> LoadConfig(const ServeFlags& flags);

}  // namespace keel::server
