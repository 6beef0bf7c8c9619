#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <boost/json.hpp>

namespace keel::gateway {

// Retry with exponential backoff and full jitter: attempt n (1-based) waits a uniform random
// time in [0, min(max_backoff_ms, base_backoff_ms * 2^(n-1))], and never less than a
// Retry-After the server sent.
struct RetryPolicy {
  int max_attempts = 3;  // including the first; 1 = no retry
  int64_t base_backoff_ms = 200;
  int64_t max_backoff_ms = 10'000;
};

// closed → open when, over the last window_ms, at least min_requests calls were made and
// the share that failed reaches failure_rate; open → half-open after open_ms; half-open lets
// one probe through: success closes, failure opens again.
struct BreakerPolicy {
  int64_t window_ms = 30'000;
  int min_requests = 5;
  double failure_rate = 0.5;
  int64_t open_ms = 15'000;
};

struct ProviderConfig {
  std::string name;
  std::string kind;      // "openai" | "anthropic"
  std::string base_url;  // e.g. https://api.openai.com/v1 (adapters append /chat/completions)
  std::string api_key;   // resolved from api_key_env or api_key_file at load, never from text
  std::string api_key_env;
  std::string api_key_file;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  int64_t timeout_ms = 120'000;
  int64_t idle_timeout_ms = 30'000;  // a stream (or body) silent this long is stalled
  RetryPolicy retry;
  BreakerPolicy breaker;
};

struct ModelConfig {
  std::string name;      // Keel's name, used in ctx.llm{model=...} and chains
  std::string provider;  // a ProviderConfig name
  std::string model_id;  // the provider's name for it; default: name
  double input_usd_per_mtok = 0;
  double output_usd_per_mtok = 0;
  int64_t max_output_tokens = 0;  // default max_tokens when a request sets none; 0: provider's
};

// Models tried in order; the last is taken to be the cheapest (used when degrading).
struct ChainConfig {
  std::string name;
  std::vector<std::string> models;
};

struct McpServerConfig {
  std::string name;
  std::string transport;             // "stdio" | "http"
  std::vector<std::string> command;  // stdio: argv
  std::string url;                   // http: the streamable HTTP endpoint
  int64_t timeout_ms = 30'000;
};

struct ToolConfig {
  std::string name;
  std::string kind;  // "http" | "mcp" | "lua"
  std::string description;
  boost::json::value parameters;  // JSON Schema of the arguments (object); null: any object
  // http
  std::string url;
  std::string method = "POST";
  std::vector<std::pair<std::string, std::string>> headers;
  // mcp: the server and its tool name (default: name)
  std::string mcp_server;
  std::string mcp_tool;
  // lua: a file whose chunk returns function(args) -> value; pure computation only
  std::string lua_file;
  int64_t timeout_ms = 30'000;
  RetryPolicy retry;
  BreakerPolicy breaker;
  bool effect = false;  // has side effects: never called inline, delivered through the outbox
  std::string compensate_with;   // a tool that undoes a successful call (sagas)
  int outbox_max_attempts = 10;  // delivery attempts before the intent fails
};

struct GatewayConfig {
  std::map<std::string, ProviderConfig> providers;
  std::map<std::string, ModelConfig> models;
  std::map<std::string, ChainConfig> chains;
  std::map<std::string, ToolConfig> tools;
  std::map<std::string, McpServerConfig> mcp_servers;
  std::string default_model;  // a model or chain name for ctx.llm without model=
  // Tool results larger than this are stored once as a blob and passed by reference.
  int64_t tool_result_inline_bytes = 16 * 1024;
};

}  // namespace keel::gateway
