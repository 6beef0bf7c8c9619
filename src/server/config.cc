#include "server/config.h"

#include <toml++/toml.h>
#include <filesystem>
#include <set>

#include "base/duration.h"
#include "server/gateway_config.h"

namespace keel::server {

namespace {

Error Bad(const std::string& key, const std::string& what) {
  return Error{Errc::kInvalidArgument, "config " + key + ": " + what};
}

Status ReadString(const toml::table& t, const std::string& section, const char* key,
                  std::string& out) {
  auto node = t[section][key];
  if (!node) return OkStatus();
  auto v = node.value<std::string>();
  if (!v) return Bad(section + "." + key, "must be a string");
  out = *v;
  return OkStatus();
}

Status ReadInt(const toml::table& t, const std::string& section, const char* key, int64_t min,
               int64_t max, int64_t& out) {
  auto node = t[section][key];
  if (!node) return OkStatus();
  auto v = node.value<int64_t>();
  if (!v || *v < min || *v > max) {
    return Bad(section + "." + key,
               "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
  }
  out = *v;
  return OkStatus();
}

Status ReadDuration(const toml::table& t, const std::string& section, const char* key,
                    int64_t& out_ms) {
  auto node = t[section][key];
  if (!node) return OkStatus();
  if (auto s = node.value<std::string>()) {
    auto ms = ParseDurationMs(*s);
    if (!ms) return Bad(section + "." + key, ms.error().message);
    out_ms = *ms;
    return OkStatus();
  }
  return Bad(section + "." + key, "must be a duration string such as \"10s\"");
}

Status CheckKeys(const toml::table& t) {
  static const std::map<std::string, std::set<std::string>> kKnown{
      {"server",
       {"listen", "data_dir", "workflows_dir", "lib_dir", "drain_timeout", "http_threads"}},
      {"store", {"synchronous", "read_connections", "max_page_count"}},
      {"engine", {"executor_threads", "lease_ttl", "resident_sleep", "loop_max_repeats"}},
      {"lua", {"max_memory_mb", "max_instructions"}},
      {"log", {"level"}},
  };
  // Checked key by key by ParseGatewayConfig and ParseAgents.
  static const std::set<std::string> kGatewaySections{
      "gateway", "providers", "models", "chains", "mcp_servers", "tools", "agents", "approvals"};
  for (const auto& [section, node] : t) {
    if (kGatewaySections.count(std::string(section.str()))) continue;
    auto it = kKnown.find(std::string(section.str()));
    if (it == kKnown.end()) return Bad(std::string(section.str()), "unknown section");
    if (!node.is_table()) return Bad(std::string(section.str()), "must be a table");
    for (const auto& [key, _] : *node.as_table()) {
      if (!it->second.count(std::string(key.str()))) {
        return Bad(std::string(section.str()) + "." + std::string(key.str()), "unknown key");
      }
    }
  }
  return OkStatus();
}

}  // namespace

Result<Config> LoadConfig(const ServeFlags& flags) {
  Config c;
  if (flags.config_file) {
    toml::table t;
    try {
      t = toml::parse_file(*flags.config_file);
    } catch (const toml::parse_error& e) {
      return Error{Errc::kInvalidArgument, *flags.config_file + ":" +
                                               std::to_string(e.source().begin.line) + ": " +
                                               std::string(e.description())};
    }
    if (Status st = CheckKeys(t); !st) return st.error();
    int64_t http_threads = c.http_threads, read_conns = c.read_connections,
            executors = c.executor_threads, loop_max_repeats = c.loop_max_repeats;
    for (Status st : {
             ReadString(t, "server", "listen", c.listen),
             ReadString(t, "server", "data_dir", c.data_dir),
             ReadString(t, "server", "workflows_dir", c.workflows_dir),
             ReadString(t, "server", "lib_dir", c.lib_dir),
             ReadDuration(t, "server", "drain_timeout", c.drain_timeout_ms),
             ReadInt(t, "server", "http_threads", 1, 64, http_threads),
             ReadString(t, "store", "synchronous", c.synchronous),
             ReadInt(t, "store", "read_connections", 1, 64, read_conns),
             ReadInt(t, "store", "max_page_count", 0, INT64_MAX, c.max_page_count),
             ReadInt(t, "engine", "executor_threads", 1, 64, executors),
             ReadDuration(t, "engine", "lease_ttl", c.lease_ttl_ms),
             ReadDuration(t, "engine", "resident_sleep", c.resident_sleep_ms),
             ReadInt(t, "engine", "loop_max_repeats", 0, 1000, loop_max_repeats),
             ReadInt(t, "lua", "max_memory_mb", 1, 65536, c.lua_max_memory_mb),
             ReadInt(t, "lua", "max_instructions", 1000, INT64_MAX, c.lua_max_instructions),
             ReadString(t, "log", "level", c.log_level),
         }) {
      if (!st) return st.error();
    }
    c.http_threads = static_cast<int>(http_threads);
    c.read_connections = static_cast<int>(read_conns);
    c.executor_threads = static_cast<int>(executors);
    if (loop_max_repeats == 1) {
      return Error{Errc::kInvalidArgument,
                   "engine.loop_max_repeats: 1 would end a run at its first call; use 0 (off) or "
                   "2 and more"};
    }
    c.loop_max_repeats = static_cast<int>(loop_max_repeats);
    std::string config_dir = std::filesystem::path(*flags.config_file).parent_path().string();
    if (config_dir.empty()) config_dir = ".";
    auto gateway = ParseGatewayConfig(t, config_dir);
    if (!gateway) return gateway.error();
    auto approvals = ParseApprovals(t, *gateway);
    if (!approvals) return approvals.error();
    c.approvals = std::move(*approvals);
    auto agents = ParseAgents(t, *gateway, config_dir);
    if (!agents) return agents.error();
    c.gateway = std::move(*gateway);
    c.agents = std::move(*agents);
  }
  if (flags.data_dir) c.data_dir = *flags.data_dir;
  if (flags.listen) c.listen = *flags.listen;
  if (flags.workflows_dir) c.workflows_dir = *flags.workflows_dir;
  if (flags.lib_dir) c.lib_dir = *flags.lib_dir;
  if (flags.port_file) c.port_file = *flags.port_file;
  if (c.synchronous != "full" && c.synchronous != "normal" && c.synchronous != "off") {
    return Bad("store.synchronous", "must be \"full\", \"normal\" or \"off\"");
  }
  if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" &&
      c.log_level != "error") {
    return Bad("log.level", "must be debug, info, warn or error");
  }
  if (c.lease_ttl_ms < 1000) return Bad("engine.lease_ttl", "must be at least 1s");
  return c;
}

}  // namespace keel::server
