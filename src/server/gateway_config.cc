#include "server/gateway_config.h"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string_view>

#include "base/duration.h"

namespace keel::server {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

#define KEEL_CONFIG_TRY(expr)                          \
  do {                                                 \
    if (Status st_ = (expr); !st_) return st_.error(); \
  } while (0)

Error Bad(const std::string& key, const std::string& what) {
  return Error{Errc::kInvalidArgument, "config " + key + ": " + what};
}

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// One TOML table at a key path ("providers.sim"). Every read marks its key as known, so
// Done() can name the first key that nothing read: a typo is an error, not a silent default.
class Section {
 public:
  Section(const toml::table& t, std::string path) : t_(t), path_(std::move(path)) {}

  const std::string& path() const { return path_; }
  std::string Key(std::string_view key) const { return path_ + "." + std::string(key); }

  const toml::node* Get(std::string_view key) {
    seen_.insert(std::string(key));
    return t_.get(key);
  }
  bool Has(std::string_view key) const { return t_.contains(key); }

  Status String(std::string_view key, std::string& out) {
    const toml::node* n = Get(key);
    if (n == nullptr) return OkStatus();
    auto v = n->value_exact<std::string>();
    if (!v) return Bad(Key(key), "must be a string");
    out = *v;
    return OkStatus();
  }

  Status RequiredString(std::string_view key, std::string& out, const std::string& hint) {
    if (!Has(key)) return Bad(Key(key), "is required" + hint);
    KEEL_CONFIG_TRY(String(key, out));
    if (out.empty()) return Bad(Key(key), "must not be empty");
    return OkStatus();
  }

  Status Int(std::string_view key, int64_t min, int64_t max, int64_t& out) {
    const toml::node* n = Get(key);
    if (n == nullptr) return OkStatus();
    auto v = n->value_exact<int64_t>();
    if (!v || *v < min || *v > max) {
      return Bad(Key(key),
                 "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
    }
    out = *v;
    return OkStatus();
  }

  Status Int(std::string_view key, int64_t min, int64_t max, int& out) {
    int64_t v = out;
    KEEL_CONFIG_TRY(Int(key, min, max, v));
    out = static_cast<int>(v);
    return OkStatus();
  }

  // An integer is accepted where a number is expected: `price = 3` means 3.0.
  Status Double(std::string_view key, double min, double max, bool min_exclusive, double& out) {
    const toml::node* n = Get(key);
    if (n == nullptr) return OkStatus();
    double v = 0;
    if (auto i = n->value_exact<int64_t>()) {
      v = static_cast<double>(*i);
    } else if (auto d = n->value_exact<double>()) {
      v = *d;
    } else {
      return Bad(Key(key), "must be a number");
    }
    if (!(min_exclusive ? v > min : v >= min) || !(v <= max)) {
      std::ostringstream range;
      range << "must be a number " << (min_exclusive ? "above " : "from ") << min << " to " << max;
      return Bad(Key(key), range.str());
    }
    out = v;
    return OkStatus();
  }

  Status Bool(std::string_view key, bool& out) {
    const toml::node* n = Get(key);
    if (n == nullptr) return OkStatus();
    auto v = n->value_exact<bool>();
    if (!v) return Bad(Key(key), "must be true or false");
    out = *v;
    return OkStatus();
  }

  // Durations are strings as in the rest of the file ("30s"); a bare integer is refused
  // because its unit would be a guess.
  Status Duration(std::string_view key, bool allow_zero, int64_t& out_ms) {
    const toml::node* n = Get(key);
    if (n == nullptr) return OkStatus();
    auto s = n->value_exact<std::string>();
    if (!s) return Bad(Key(key), "must be a duration string such as \"10s\"");
    auto ms = ParseDurationMs(*s);
    if (!ms) return Bad(Key(key), ms.error().message);
    if (!allow_zero && *ms <= 0) return Bad(Key(key), "must be more than 0");
    out_ms = *ms;
    return OkStatus();
  }

  Status StringArray(std::string_view key, std::vector<std::string>& out) {
    const toml::node* n = Get(key);
    if (n == nullptr) return OkStatus();
    const toml::array* a = n->as_array();
    if (a == nullptr) return Bad(Key(key), "must be an array of strings");
    std::vector<std::string> items;
    for (size_t i = 0; i < a->size(); ++i) {
      auto v = (*a)[i].value_exact<std::string>();
      if (!v) return Bad(Key(key) + "[" + std::to_string(i) + "]", "must be a string");
      items.push_back(*v);
    }
    out = std::move(items);
    return OkStatus();
  }

  Status Headers(std::string_view key, std::vector<std::pair<std::string, std::string>>& out) {
    const toml::node* n = Get(key);
    if (n == nullptr) return OkStatus();
    const toml::table* t = n->as_table();
    if (t == nullptr) return Bad(Key(key), "must be a table of header names to strings");
    out.clear();
    for (const auto& [name, value] : *t) {
      std::string header(name.str());
      auto v = value.value_exact<std::string>();
      if (!v) return Bad(Key(key) + "." + header, "must be a string");
      if (header.empty() || header.find_first_of(" :\r\n") != std::string::npos) {
        return Bad(Key(key) + "." + header, "is not a valid header name");
      }
      if (v->find_first_of("\r\n") != std::string::npos) {
        return Bad(Key(key) + "." + header, "must not contain a line break");
      }
      out.emplace_back(header, *v);
    }
    return OkStatus();
  }

  // nullptr when absent.
  Result<const toml::table*> Table(std::string_view key) {
    const toml::node* n = Get(key);
    if (n == nullptr) return static_cast<const toml::table*>(nullptr);
    if (!n->is_table()) return Bad(Key(key), "must be a table");
    return n->as_table();
  }

  Status Done() const {
    for (const auto& [key, _] : t_) {
      if (!seen_.count(std::string(key.str()))) return Bad(Key(key.str()), "unknown key");
    }
    return OkStatus();
  }

 private:
  const toml::table& t_;
  std::string path_;
  std::set<std::string> seen_;
};

// The named sub-tables of a top-level table such as [providers]: each must be a table.
Result<std::vector<std::pair<std::string, const toml::table*>>> Entries(const toml::table& root,
                                                                        const char* section) {
  std::vector<std::pair<std::string, const toml::table*>> out;
  const toml::node* n = root.get(section);
  if (n == nullptr) return out;
  if (!n->is_table()) return Bad(section, "must be a table");
  for (const auto& [name, value] : *n->as_table()) {
    std::string key = std::string(section) + "." + std::string(name.str());
    if (!value.is_table()) return Bad(key, "must be a table");
    if (name.str().empty()) return Bad(key, "names must not be empty");
    out.emplace_back(std::string(name.str()), value.as_table());
  }
  return out;
}

Status ReadRetry(Section& s, gateway::RetryPolicy& out) {
  auto t = s.Table("retry");
  if (!t) return t.error();
  if (*t == nullptr) return OkStatus();
  Section r(**t, s.Key("retry"));
  int64_t max_attempts = out.max_attempts;
  KEEL_CONFIG_TRY(r.Int("max_attempts", 1, 100, max_attempts));
  KEEL_CONFIG_TRY(r.Duration("base_backoff", true, out.base_backoff_ms));
  KEEL_CONFIG_TRY(r.Duration("max_backoff", true, out.max_backoff_ms));
  KEEL_CONFIG_TRY(r.Done());
  out.max_attempts = static_cast<int>(max_attempts);
  if (out.max_backoff_ms < out.base_backoff_ms) {
    return Bad(r.Key("max_backoff"), "must not be less than base_backoff");
  }
  return OkStatus();
}

Status ReadBreaker(Section& s, gateway::BreakerPolicy& out) {
  auto t = s.Table("breaker");
  if (!t) return t.error();
  if (*t == nullptr) return OkStatus();
  Section b(**t, s.Key("breaker"));
  KEEL_CONFIG_TRY(b.Duration("window", false, out.window_ms));
  KEEL_CONFIG_TRY(b.Int("min_requests", 1, 1'000'000, out.min_requests));
  KEEL_CONFIG_TRY(b.Double("failure_rate", 0, 1, true, out.failure_rate));
  KEEL_CONFIG_TRY(b.Duration("open", false, out.open_ms));
  return b.Done();
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool IsHttpUrl(const std::string& url) {
  std::string u = Lower(url);
  for (std::string_view scheme : {"http://", "https://"}) {
    if (u.rfind(scheme, 0) == 0 && u.size() > scheme.size()) return true;
  }
  return false;
}

// A server on this machine (a simulator, a local vLLM/llama.cpp/Ollama) usually wants no key.
bool IsLoopbackUrl(const std::string& url) {
  size_t p = url.find("://");
  if (p == std::string::npos) return false;
  std::string_view authority = std::string_view(url).substr(p + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority = authority.substr(at + 1);
  }
  std::string host;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return false;
    host = std::string(authority.substr(1, close - 1));
  } else {
    host = std::string(authority.substr(0, authority.find(':')));
  }
  host = Lower(host);
  if (host == "localhost" || host == "::1") return true;
  if (host.rfind("127.", 0) != 0) return false;
  return host.find_first_not_of("0123456789.") == std::string::npos;
}

std::string Trim(std::string s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string ResolvePath(const std::string& config_dir, const std::string& file) {
  fs::path p(file);
  if (p.is_relative()) p = fs::path(config_dir.empty() ? "." : config_dir) / p;
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec);
  return (ec ? p : abs).lexically_normal().string();
}

Result<std::string> ReadTextFile(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return Error{Errc::kNotFound, "no such file " + path};
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{Errc::kNotFound, "cannot read " + path};
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return Error{Errc::kNotFound, "cannot read " + path};
  return buffer.str();
}

Status ReadApiKey(Section& s, gateway::ProviderConfig& p, const std::string& config_dir) {
  if (s.Has("api_key")) {
    s.Get("api_key");
    return Bad(s.Key("api_key"),
               "keys are never read from the config file; set api_key_env or api_key_file");
  }
  KEEL_CONFIG_TRY(s.String("api_key_env", p.api_key_env));
  KEEL_CONFIG_TRY(s.String("api_key_file", p.api_key_file));
  if (s.Has("api_key_env") && p.api_key_env.empty()) {
    return Bad(s.Key("api_key_env"), "must name an environment variable");
  }
  if (s.Has("api_key_file") && p.api_key_file.empty()) {
    return Bad(s.Key("api_key_file"), "must name a file");
  }
  if (!p.api_key_env.empty() && !p.api_key_file.empty()) {
    return Bad(s.path(), "set api_key_env or api_key_file, not both");
  }
  bool loopback = IsLoopbackUrl(p.base_url);
  if (!p.api_key_file.empty()) {
    p.api_key_file = ResolvePath(config_dir, p.api_key_file);
    auto text = ReadTextFile(p.api_key_file);
    if (!text) return Bad(s.Key("api_key_file"), text.error().message);
    p.api_key = Trim(*text);
    if (p.api_key.empty()) return Bad(s.Key("api_key_file"), p.api_key_file + " is empty");
    return OkStatus();
  }
  if (!p.api_key_env.empty()) {
    const char* v = std::getenv(p.api_key_env.c_str());
    p.api_key = v == nullptr ? "" : Trim(v);
    if (p.api_key.empty() && !loopback) {
      return Bad(s.Key("api_key_env"), "environment variable " + p.api_key_env +
                                           " (the API key of provider " + p.name +
                                           ") is not set or empty");
    }
    return OkStatus();
  }
  if (!loopback) {
    return Bad(s.path(), "provider " + p.name + " at " + p.base_url +
                             " needs an API key: set api_key_env or api_key_file (only a "
                             "loopback base_url may have none)");
  }
  return OkStatus();
}

Status ParseProvider(const std::string& name, const toml::table& t, const std::string& config_dir,
                     gateway::ProviderConfig& p) {
  Section s(t, "providers." + name);
  p.name = name;
  KEEL_CONFIG_TRY(s.RequiredString("kind", p.kind, " (\"openai\" or \"anthropic\")"));
  if (p.kind != "openai" && p.kind != "anthropic") {
    return Bad(s.Key("kind"), "must be \"openai\" or \"anthropic\", not " + Quote(p.kind));
  }
  p.base_url = p.kind == "openai" ? "https://api.openai.com/v1" : "https://api.anthropic.com/v1";
  KEEL_CONFIG_TRY(s.String("base_url", p.base_url));
  if (!IsHttpUrl(p.base_url)) {
    return Bad(s.Key("base_url"), "must be an http:// or https:// URL");
  }
  while (p.base_url.size() > 1 && p.base_url.back() == '/') p.base_url.pop_back();
  KEEL_CONFIG_TRY(ReadApiKey(s, p, config_dir));
  KEEL_CONFIG_TRY(s.Headers("headers", p.headers));
  KEEL_CONFIG_TRY(s.Duration("timeout", false, p.timeout_ms));
  KEEL_CONFIG_TRY(s.Duration("idle_timeout", false, p.idle_timeout_ms));
  KEEL_CONFIG_TRY(ReadRetry(s, p.retry));
  KEEL_CONFIG_TRY(ReadBreaker(s, p.breaker));
  return s.Done();
}

Status ParseModel(const std::string& name, const toml::table& t, const gateway::GatewayConfig& gw,
                  gateway::ModelConfig& m) {
  Section s(t, "models." + name);
  m.name = name;
  m.model_id = name;
  KEEL_CONFIG_TRY(s.RequiredString("provider", m.provider, " (a [providers.*] name)"));
  if (!gw.providers.count(m.provider)) {
    return Bad(s.Key("provider"), "unknown provider " + Quote(m.provider));
  }
  KEEL_CONFIG_TRY(s.String("model_id", m.model_id));
  if (m.model_id.empty()) return Bad(s.Key("model_id"), "must not be empty");
  KEEL_CONFIG_TRY(s.Double("input_usd_per_mtok", 0, 1e6, false, m.input_usd_per_mtok));
  KEEL_CONFIG_TRY(s.Double("output_usd_per_mtok", 0, 1e6, false, m.output_usd_per_mtok));
  KEEL_CONFIG_TRY(s.Int("max_output_tokens", 0, 10'000'000, m.max_output_tokens));
  return s.Done();
}

Status ParseChain(const std::string& name, const toml::table& t, const gateway::GatewayConfig& gw,
                  gateway::ChainConfig& c) {
  Section s(t, "chains." + name);
  c.name = name;
  if (gw.models.count(name)) {
    return Bad(s.path(), "a model has the same name; chains and models share one namespace");
  }
  if (!s.Has("models")) return Bad(s.Key("models"), "is required (model names, in order)");
  KEEL_CONFIG_TRY(s.StringArray("models", c.models));
  if (c.models.empty()) return Bad(s.Key("models"), "must name at least one model");
  std::set<std::string> seen;
  for (const std::string& m : c.models) {
    if (!gw.models.count(m)) {
      std::string what = "unknown model " + Quote(m);
      if (gw.chains.count(m)) what += " (a chain cannot contain a chain)";
      return Bad(s.Key("models"), what);
    }
    if (!seen.insert(m).second) return Bad(s.Key("models"), "lists " + Quote(m) + " twice");
  }
  return s.Done();
}

Status ParseMcpServer(const std::string& name, const toml::table& t, gateway::McpServerConfig& m) {
  Section s(t, "mcp_servers." + name);
  m.name = name;
  KEEL_CONFIG_TRY(s.RequiredString("transport", m.transport, " (\"stdio\" or \"http\")"));
  KEEL_CONFIG_TRY(s.StringArray("command", m.command));
  KEEL_CONFIG_TRY(s.String("url", m.url));
  KEEL_CONFIG_TRY(s.Duration("timeout", false, m.timeout_ms));
  if (m.transport == "stdio") {
    if (m.command.empty() || m.command[0].empty()) {
      return Bad(s.Key("command"), "is required for transport \"stdio\" (the argv to start)");
    }
    if (s.Has("url")) return Bad(s.Key("url"), "is for transport \"http\" only");
  } else if (m.transport == "http") {
    if (!IsHttpUrl(m.url)) {
      return Bad(s.Key("url"), "is required for transport \"http\" (an http:// or https:// URL)");
    }
    if (s.Has("command")) return Bad(s.Key("command"), "is for transport \"stdio\" only");
  } else {
    return Bad(s.Key("transport"), "must be \"stdio\" or \"http\", not " + Quote(m.transport));
  }
  return s.Done();
}

Status CheckObjectSchema(const std::string& key, const json::value& schema) {
  if (!schema.is_object()) return Bad(key, "must be a table (a JSON Schema of an object)");
  const json::value* type = schema.get_object().if_contains("type");
  if (type != nullptr && !(type->is_string() && type->get_string() == "object")) {
    return Bad(key, "must describe an object (type = \"object\")");
  }
  return OkStatus();
}

// A JSON Schema given either as a TOML table (`key`) or as JSON text (`key`_json).
Status ReadSchema(Section& s, const std::string& key, json::value& out) {
  std::string json_key = key + "_json";
  if (s.Has(key) && s.Has(json_key)) {
    return Bad(s.path(), "set " + key + " or " + json_key + ", not both");
  }
  if (const toml::node* n = s.Get(key)) {
    if (!n->is_table()) return Bad(s.Key(key), "must be a table (a JSON Schema of an object)");
    out = TomlToJson(*n);
    return CheckObjectSchema(s.Key(key), out);
  }
  std::string text;
  KEEL_CONFIG_TRY(s.String(json_key, text));
  if (!s.Has(json_key)) return OkStatus();
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return Bad(s.Key(json_key), "is not valid JSON: " + ec.message());
  KEEL_CONFIG_TRY(CheckObjectSchema(s.Key(json_key), v));
  out = std::move(v);
  return OkStatus();
}

// What providers accept as a function name (OpenAI and Anthropic agree on this).
bool IsToolName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  }
  return true;
}

Status ParseTool(const std::string& name, const toml::table& t, const std::string& config_dir,
                 const gateway::GatewayConfig& gw, gateway::ToolConfig& tool) {
  Section s(t, "tools." + name);
  tool.name = name;
  if (!IsToolName(name)) {
    return Bad(s.path(), "tool names must be 1 to 64 of A-Z a-z 0-9 _ - (models refuse others)");
  }
  KEEL_CONFIG_TRY(s.RequiredString("kind", tool.kind, " (\"http\", \"mcp\" or \"lua\")"));
  if (tool.kind != "http" && tool.kind != "mcp" && tool.kind != "lua") {
    return Bad(s.Key("kind"), "must be \"http\", \"mcp\" or \"lua\", not " + Quote(tool.kind));
  }
  // A key of another kind is almost always a mistake (kind = "lua" with a url, ...).
  static const std::map<std::string, std::string> kKindOf{
      {"url", "http"},   {"method", "http"},  {"headers", "http"},
      {"server", "mcp"}, {"mcp_tool", "mcp"}, {"file", "lua"},
  };
  for (const auto& [key, kind] : kKindOf) {
    if (s.Has(key) && kind != tool.kind) {
      s.Get(key);
      return Bad(s.Key(key), "is for kind = " + Quote(kind) + " only");
    }
  }
  KEEL_CONFIG_TRY(s.String("description", tool.description));
  KEEL_CONFIG_TRY(ReadSchema(s, "parameters", tool.parameters));
  KEEL_CONFIG_TRY(s.Duration("timeout", false, tool.timeout_ms));
  KEEL_CONFIG_TRY(ReadRetry(s, tool.retry));
  KEEL_CONFIG_TRY(ReadBreaker(s, tool.breaker));
  KEEL_CONFIG_TRY(s.Bool("effect", tool.effect));
  // Checked against the other tools once all are parsed: it may name one defined later.
  KEEL_CONFIG_TRY(s.String("compensate_with", tool.compensate_with));
  if (s.Has("compensate_with") && tool.compensate_with.empty()) {
    return Bad(s.Key("compensate_with"), "must name a [tools.*] tool");
  }
  if (tool.compensate_with == name) {
    return Bad(s.Key("compensate_with"), "a tool cannot undo itself");
  }
  KEEL_CONFIG_TRY(s.Int("outbox_max_attempts", 1, 1000, tool.outbox_max_attempts));
  if (tool.kind == "http") {
    KEEL_CONFIG_TRY(s.String("url", tool.url));
    if (!IsHttpUrl(tool.url)) {
      return Bad(s.Key("url"), "is required for kind \"http\" (an http:// or https:// URL)");
    }
    KEEL_CONFIG_TRY(s.String("method", tool.method));
    for (char& c : tool.method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    static const std::set<std::string> kMethods{"GET", "POST", "PUT", "PATCH", "DELETE"};
    if (!kMethods.count(tool.method)) {
      return Bad(s.Key("method"), "must be GET, POST, PUT, PATCH or DELETE");
    }
    KEEL_CONFIG_TRY(s.Headers("headers", tool.headers));
  } else if (tool.kind == "mcp") {
    KEEL_CONFIG_TRY(s.RequiredString("server", tool.mcp_server, " (an [mcp_servers.*] name)"));
    if (!gw.mcp_servers.count(tool.mcp_server)) {
      return Bad(s.Key("server"), "unknown MCP server " + Quote(tool.mcp_server));
    }
    tool.mcp_tool = name;
    KEEL_CONFIG_TRY(s.String("mcp_tool", tool.mcp_tool));
    if (tool.mcp_tool.empty()) return Bad(s.Key("mcp_tool"), "must not be empty");
  } else {
    std::string file;
    KEEL_CONFIG_TRY(s.RequiredString("file", file, " (a Lua file returning a function)"));
    tool.lua_file = ResolvePath(config_dir, file);
    std::error_code ec;
    if (!fs::is_regular_file(tool.lua_file, ec)) {
      return Bad(s.Key("file"), "no such file " + tool.lua_file);
    }
  }
  return s.Done();
}

bool IsAgentName(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

Status ReadBudget(Section& s, model::Budget& b) {
  auto t = s.Table("budget");
  if (!t) return t.error();
  if (*t == nullptr) return OkStatus();
  Section r(**t, s.Key("budget"));
  constexpr int64_t kMax = INT64_MAX / 2;
  KEEL_CONFIG_TRY(r.Duration("deadline", true, b.deadline_ms));
  KEEL_CONFIG_TRY(r.Int("max_steps", 0, kMax, b.max_steps));
  KEEL_CONFIG_TRY(r.Int("max_tools", 0, kMax, b.max_tools));
  KEEL_CONFIG_TRY(r.Int("max_tokens", 0, kMax, b.max_tokens));
  KEEL_CONFIG_TRY(r.Int("max_context", 0, kMax, b.max_context));
  KEEL_CONFIG_TRY(r.Double("max_cost_usd", 0, 1e9, false, b.max_cost_usd));
  return r.Done();
}

Status ParseAgent(const std::string& name, const toml::table& t, const gateway::GatewayConfig& gw,
                  const std::string& config_dir, model::AgentSpec& a) {
  Section s(t, "agents." + name);
  a.name = name;
  if (!IsAgentName(name)) {
    return Bad(s.path(), "agent names are made of A-Z a-z 0-9 _ . - (the name is its intent)");
  }
  KEEL_CONFIG_TRY(s.String("description", a.description));
  KEEL_CONFIG_TRY(s.String("model", a.model));
  if (s.Has("model")) {
    if (!gw.models.count(a.model) && !gw.chains.count(a.model)) {
      return Bad(s.Key("model"), "unknown model or chain " + Quote(a.model));
    }
  } else if (gw.default_model.empty()) {
    return Bad(s.Key("model"),
               "is required: gateway.default_model is not set (and there is not exactly one "
               "chain or model to default to)");
  } else {
    a.model = gw.default_model;
  }
  if (s.Has("system_prompt") && s.Has("system_prompt_file")) {
    return Bad(s.path(), "set system_prompt or system_prompt_file, not both");
  }
  KEEL_CONFIG_TRY(s.String("system_prompt", a.system_prompt));
  std::string prompt_file;
  KEEL_CONFIG_TRY(s.String("system_prompt_file", prompt_file));
  if (s.Has("system_prompt_file")) {
    auto text = ReadTextFile(ResolvePath(config_dir, prompt_file));
    if (!text) return Bad(s.Key("system_prompt_file"), text.error().message);
    a.system_prompt = *text;
  }
  KEEL_CONFIG_TRY(s.StringArray("tools", a.tools));
  std::set<std::string> seen;
  for (const std::string& tool : a.tools) {
    // Internal tools ("$approval_webhook") have names no [tools.*] table can take.
    if (!IsToolName(tool) || !gw.tools.count(tool)) {
      return Bad(s.Key("tools"), "unknown tool " + Quote(tool));
    }
    if (!seen.insert(tool).second) return Bad(s.Key("tools"), "lists " + Quote(tool) + " twice");
  }
  KEEL_CONFIG_TRY(ReadBudget(s, a.budget));
  auto loop = s.Table("loop_detection");
  if (!loop) return loop.error();
  if (*loop != nullptr) {
    Section l(**loop, s.Key("loop_detection"));
    int64_t repeats = a.loop_max_repeats;
    KEEL_CONFIG_TRY(l.Int("max_repeats", 0, 1000, repeats));
    // 1 would end a run at the first call of anything.
    if (repeats == 1) return Bad(l.Key("max_repeats"), "must be 0 (off) or at least 2");
    KEEL_CONFIG_TRY(l.Done());
    a.loop_max_repeats = static_cast<int>(repeats);
  }
  KEEL_CONFIG_TRY(s.Double("degrade_at", 0, 1, true, a.degrade_at));
  KEEL_CONFIG_TRY(s.Int("max_turns", 1, 100'000, a.max_turns));
  KEEL_CONFIG_TRY(s.Bool("stream", a.stream));
  KEEL_CONFIG_TRY(ReadSchema(s, "output_schema", a.output_schema));
  return s.Done();
}

}  // namespace

json::value TomlToJson(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: {
      json::object o;
      for (const auto& [k, v] : *node.as_table()) o[k.str()] = TomlToJson(v);
      return o;
    }
    case toml::node_type::array: {
      json::array a;
      for (const auto& v : *node.as_array()) a.push_back(TomlToJson(v));
      return a;
    }
    case toml::node_type::string:
      return json::string(node.as_string()->get());
    case toml::node_type::integer:
      return node.as_integer()->get();
    case toml::node_type::floating_point:
      return node.as_floating_point()->get();
    case toml::node_type::boolean:
      return node.as_boolean()->get();
    default: {
      std::ostringstream text;
      node.visit([&](const auto& v) { text << v; });
      return json::string(text.str());
    }
  }
}

Result<gateway::GatewayConfig> ParseGatewayConfig(const toml::table& root,
                                                  const std::string& config_dir) {
  gateway::GatewayConfig gw;
  bool default_given = false;
  if (const toml::node* n = root.get("gateway")) {
    if (!n->is_table()) return Bad("gateway", "must be a table");
    Section s(*n->as_table(), "gateway");
    KEEL_CONFIG_TRY(s.String("default_model", gw.default_model));
    default_given = s.Has("default_model");
    KEEL_CONFIG_TRY(
        s.Int("tool_result_inline_bytes", 0, int64_t{1} << 30, gw.tool_result_inline_bytes));
    KEEL_CONFIG_TRY(s.Done());
  }
  // Order matters: each table may refer only to the ones parsed before it.
  auto providers = Entries(root, "providers");
  if (!providers) return providers.error();
  for (const auto& [name, t] : *providers) {
    KEEL_CONFIG_TRY(ParseProvider(name, *t, config_dir, gw.providers[name]));
  }
  auto models = Entries(root, "models");
  if (!models) return models.error();
  for (const auto& [name, t] : *models) {
    KEEL_CONFIG_TRY(ParseModel(name, *t, gw, gw.models[name]));
  }
  auto chains = Entries(root, "chains");
  if (!chains) return chains.error();
  for (const auto& [name, t] : *chains) {
    gateway::ChainConfig chain;
    KEEL_CONFIG_TRY(ParseChain(name, *t, gw, chain));
    gw.chains[name] = std::move(chain);
  }
  auto servers = Entries(root, "mcp_servers");
  if (!servers) return servers.error();
  for (const auto& [name, t] : *servers) {
    KEEL_CONFIG_TRY(ParseMcpServer(name, *t, gw.mcp_servers[name]));
  }
  auto tools = Entries(root, "tools");
  if (!tools) return tools.error();
  for (const auto& [name, t] : *tools) {
    KEEL_CONFIG_TRY(ParseTool(name, *t, config_dir, gw, gw.tools[name]));
  }
  for (const auto& [name, tool] : gw.tools) {
    if (!tool.compensate_with.empty() && !gw.tools.count(tool.compensate_with)) {
      return Bad("tools." + name + ".compensate_with",
                 "unknown tool " + Quote(tool.compensate_with) + " (it must be a [tools.*] name)");
    }
  }
  if (default_given) {
    if (gw.default_model.empty()) return Bad("gateway.default_model", "must not be empty");
    if (!gw.models.count(gw.default_model) && !gw.chains.count(gw.default_model)) {
      return Bad("gateway.default_model", "unknown model or chain " + Quote(gw.default_model));
    }
  } else if (gw.chains.size() == 1) {
    gw.default_model = gw.chains.begin()->first;
  } else if (gw.chains.empty() && gw.models.size() == 1) {
    gw.default_model = gw.models.begin()->first;
  }
  return gw;
}

Result<ApprovalsConfig> ParseApprovals(const toml::table& root, gateway::GatewayConfig& gw) {
  ApprovalsConfig a;
  const toml::node* n = root.get("approvals");
  if (n == nullptr) return a;
  if (!n->is_table()) return Bad("approvals", "must be a table");
  Section s(*n->as_table(), "approvals");
  KEEL_CONFIG_TRY(s.String("webhook_url", a.webhook_url));
  KEEL_CONFIG_TRY(s.Int("notify_max_attempts", 1, 1000, a.notify_max_attempts));
  std::vector<std::pair<std::string, std::string>> headers;
  KEEL_CONFIG_TRY(s.Headers("headers", headers));
  KEEL_CONFIG_TRY(s.Done());
  if (!s.Has("webhook_url")) {
    if (s.Has("headers")) return Bad(s.Key("headers"), "needs webhook_url");
    return a;
  }
  if (!IsHttpUrl(a.webhook_url)) {
    return Bad(s.Key("webhook_url"), "must be an http:// or https:// URL");
  }
  // Notifications are outbox intents like any effect, so they need a tool to deliver them:
  // one whose name no [tools.*] table can take.
  gateway::ToolConfig tool;
  tool.name = kApprovalWebhookTool;
  tool.kind = "http";
  tool.description = "Approval notifications (the [approvals] webhook)";
  tool.url = a.webhook_url;
  tool.method = "POST";
  tool.headers = std::move(headers);
  tool.effect = false;
  tool.outbox_max_attempts = a.notify_max_attempts;
  gw.tools[tool.name] = std::move(tool);
  a.notify_tool = kApprovalWebhookTool;
  return a;
}

Result<std::map<std::string, model::AgentSpec>> ParseAgents(const toml::table& root,
                                                            const gateway::GatewayConfig& gw,
                                                            const std::string& config_dir) {
  std::map<std::string, model::AgentSpec> agents;
  auto entries = Entries(root, "agents");
  if (!entries) return entries.error();
  for (const auto& [name, t] : *entries) {
    KEEL_CONFIG_TRY(ParseAgent(name, *t, gw, config_dir, agents[name]));
  }
  return agents;
}

#undef KEEL_CONFIG_TRY

}  // namespace keel::server
