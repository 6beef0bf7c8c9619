#include "gateway/mcp/mcp_client.h"

#include <algorithm>
#include <mutex>
#include <set>

#include "gateway/mcp/http_transport.h"
#include "gateway/mcp/jsonrpc.h"
#include "gateway/mcp/stdio_transport.h"
#include "observability/log.h"

namespace keel::gateway {

namespace json = boost::json;

namespace {

constexpr const char* kProtocolVersion = "2025-03-26";
constexpr const char* kKnownVersions[] = {"2024-11-05", "2025-03-26", "2025-06-18"};
// A server whose cursors never end would loop forever.
constexpr int kMaxToolPages = 1000;

std::string KnownVersionsText() {
  std::string s;
  for (const char* v : kKnownVersions) s += (s.empty() ? "" : ", ") + std::string(v);
  return s;
}

// The text of one content item for the model; non-text items become a short placeholder.
std::string ContentText(const json::value& item) {
  if (!item.is_object()) return "[" + json::serialize(item) + "]";
  const json::object& o = item.as_object();
  auto str = [&](const json::object& obj, std::string_view key) -> std::string {
    const json::value* v = obj.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  std::string type = str(o, "type");
  if (type == "text") return str(o, "text");
  if (type == "image" || type == "audio") {
    std::string mime = str(o, "mimeType");
    return "[" + type + (mime.empty() ? "" : " " + mime) + "]";
  }
  if (type == "resource") {
    const json::value* r = o.if_contains("resource");
    std::string uri = r && r->is_object() ? str(r->as_object(), "uri") : "";
    return "[resource" + (uri.empty() ? "" : " " + uri) + "]";
  }
  if (type == "resource_link") {
    std::string uri = str(o, "uri");
    return "[resource_link" + (uri.empty() ? "" : " " + uri) + "]";
  }
  return "[" + (type.empty() ? std::string("content") : type) + "]";
}

}  // namespace

struct McpClient::Impl {
  explicit Impl(const McpServerConfig& c) : config(c) {}

  // "mcp server 'x': tools/call 'echo': <what>"
  Error Named(const std::string& what, const Error& e) const {
    return Error{e.code, "mcp server '" + config.name + "': " + what + ": " + e.message};
  }

  Result<std::unique_ptr<mcp::Transport>> MakeTransport() const {
    if (config.transport == "stdio") {
      auto t = mcp::StdioTransport::Start(config.name, config.command);
      if (!t.ok()) return t.error();
      return std::unique_ptr<mcp::Transport>(std::move(*t));
    }
    if (config.transport == "http") {
      if (config.url.empty()) return Error{Errc::kInvalidArgument, "no url configured"};
      return std::unique_ptr<mcp::Transport>(
          std::make_unique<mcp::HttpTransport>(config.name, config.url));
    }
    return Error{Errc::kInvalidArgument,
                 "unknown transport '" + config.transport + "' (expected stdio or http)"};
  }

  // Replaces any connection by a new, initialized one. Holds connect_mu.
  Status ConnectLocked() {
    transport.reset();
    auto made = MakeTransport();
    if (!made.ok()) return Named("initialize", made.error());
    std::shared_ptr<mcp::Transport> t = std::move(*made);
    json::object params{{"protocolVersion", kProtocolVersion},
                        {"capabilities", json::object{}},
                        {"clientInfo", json::object{{"name", "keel"}, {"version", "0.1.0"}}}};
    auto response = t->Request("initialize", params, config.timeout_ms, nullptr);
    if (!response.ok()) return Named("initialize", response.error());
    auto result = mcp::ResponseResult(*response);
    if (!result.ok()) return Named("initialize", result.error());
    const json::value* version =
        result->is_object() ? result->as_object().if_contains("protocolVersion") : nullptr;
    if (!version || !version->is_string()) {
      return Named("initialize", Error{Errc::kUnavailable, "the answer names no protocolVersion"});
    }
    std::string v(version->as_string());
    if (std::find(std::begin(kKnownVersions), std::end(kKnownVersions), v) ==
        std::end(kKnownVersions)) {
      return Named("initialize",
                   Error{Errc::kUnavailable, "the server speaks protocol version '" + v +
                                                 "', which keel does not (it knows " +
                                                 KnownVersionsText() + ")"});
    }
    t->Initialized(v);
    if (Status s = t->Notify("notifications/initialized", nullptr, config.timeout_ms); !s.ok()) {
      return Named("notifications/initialized", s.error());
    }
    transport = std::move(t);
    protocol_version = v;
    obs::Info("mcp_connected",
              {{"server", config.name}, {"transport", config.transport}, {"protocol_version", v}});
    return OkStatus();
  }

  // The current connection, connecting (again) when there is none or it died.
  Result<std::shared_ptr<mcp::Transport>> Live() {
    std::lock_guard l(connect_mu);
    if (!transport || !transport->alive()) {
      if (Status s = ConnectLocked(); !s.ok()) return s.error();
    }
    return transport;
  }

  // `what` names the call in errors (the method, and the tool for tools/call).
  Result<json::value> Call(const std::string& method, const json::value& params,
                           const std::string& what, const std::shared_ptr<CancelToken>& cancel) {
    auto t = Live();
    if (!t.ok()) return t.error();
    auto response = (*t)->Request(method, params, config.timeout_ms, cancel);
    if (!response.ok()) return Named(what, response.error());
    auto result = mcp::ResponseResult(*response);
    if (!result.ok()) return Named(what, result.error());
    return std::move(*result);
  }

  const McpServerConfig config;
  std::mutex connect_mu;
  std::shared_ptr<mcp::Transport> transport;  // guarded by connect_mu
  std::string protocol_version;               // guarded by connect_mu
};

McpClient::McpClient(McpServerConfig config)
    : config_(std::move(config)), impl_(std::make_unique<Impl>(config_)) {}

McpClient::~McpClient() = default;

Status McpClient::Connect() {
  std::lock_guard l(impl_->connect_mu);
  return impl_->ConnectLocked();
}

Result<std::vector<McpTool>> McpClient::ListTools() {
  std::vector<McpTool> tools;
  std::string cursor;
  std::set<std::string> seen_cursors;
  for (int page = 0; page < kMaxToolPages; ++page) {
    json::object params;
    if (!cursor.empty()) params["cursor"] = cursor;
    auto result = impl_->Call("tools/list", params, "tools/list", nullptr);
    if (!result.ok()) return result.error();
    auto bad = [&](const std::string& why) {
      return impl_->Named("tools/list", Error{Errc::kUnavailable, why});
    };
    if (!result->is_object()) return bad("the result is not an object");
    const json::object& r = result->as_object();
    const json::value* list = r.if_contains("tools");
    if (!list || !list->is_array()) return bad("the result holds no tools array");
    for (const json::value& item : list->as_array()) {
      const json::value* name = item.is_object() ? item.as_object().if_contains("name") : nullptr;
      if (!name || !name->is_string() || name->as_string().empty()) {
        return bad("a tool without a name: " + json::serialize(item).substr(0, 200));
      }
      const json::object& o = item.as_object();
      McpTool tool;
      tool.name = std::string(name->as_string());
      if (const json::value* d = o.if_contains("description"); d && d->is_string()) {
        tool.description = std::string(d->as_string());
      }
      const json::value* schema = o.if_contains("inputSchema");
      tool.input_schema =
          schema && schema->is_object() ? *schema : json::value(json::object{{"type", "object"}});
      tools.push_back(std::move(tool));
    }
    const json::value* next = r.if_contains("nextCursor");
    if (!next || !next->is_string() || next->as_string().empty()) return tools;
    cursor = std::string(next->as_string());
    if (!seen_cursors.insert(cursor).second) return bad("nextCursor '" + cursor + "' repeats");
  }
  return impl_->Named(
      "tools/list",
      Error{Errc::kUnavailable, "more than " + std::to_string(kMaxToolPages) + " pages of tools"});
}

Result<McpCallResult> McpClient::CallTool(const std::string& name, const json::value& arguments,
                                          std::shared_ptr<CancelToken> cancel) {
  std::string what = "tools/call '" + name + "'";
  if (!arguments.is_null() && !arguments.is_object()) {
    return impl_->Named(
        what, Error{Errc::kInvalidArgument,
                    "arguments must be a JSON object, not " + json::serialize(arguments)});
  }
  json::object params{{"name", name},
                      {"arguments", arguments.is_null() ? json::value(json::object{}) : arguments}};
  auto result = impl_->Call("tools/call", params, what, cancel);
  if (!result.ok()) return result.error();
  if (!result->is_object()) {
    return impl_->Named(what, Error{Errc::kUnavailable, "the result is not an object"});
  }
  const json::object& r = result->as_object();
  McpCallResult out;
  if (const json::value* e = r.if_contains("isError"); e && e->is_bool())
    out.is_error = e->as_bool();
  if (const json::value* s = r.if_contains("structuredContent"); s && !s->is_null()) {
    out.value = *s;
    return out;
  }
  std::string text;
  if (const json::value* content = r.if_contains("content"); content && content->is_array()) {
    bool first = true;
    for (const json::value& item : content->as_array()) {
      if (!first) text += "\n";
      text += ContentText(item);
      first = false;
    }
  }
  out.value = json::string(text);
  return out;
}

}  // namespace keel::gateway
