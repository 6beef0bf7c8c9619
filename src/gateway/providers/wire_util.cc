#include "gateway/providers/wire_util.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <utility>

namespace keel::gateway::wire {

namespace json = boost::json;

std::string Snippet(std::string_view text, size_t max) {
  if (text.size() <= max) return std::string(text);
  size_t cut = max;
  // Back up over UTF-8 continuation bytes so the message stays valid UTF-8.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut)) + "...";
}

Result<json::value> ParseJson(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return Error{Errc::kInvalidArgument, ec.message()};
  return v;
}

Result<json::object> ParseObject(std::string_view text, std::string_view what) {
  auto parsed = ParseJson(text);
  if (!parsed.ok()) {
    return Error{Errc::kInvalidArgument, std::string(what) + " is not JSON (" +
                                             parsed.error().message + "): " + Snippet(text)};
  }
  json::object* o = parsed->if_object();
  if (!o) {
    return Error{Errc::kInvalidArgument,
                 std::string(what) + " is not a JSON object: " + Snippet(text)};
  }
  return std::move(*o);
}

std::string_view GetString(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_string()) return {};
  const json::string& s = v->get_string();
  return std::string_view(s.data(), s.size());
}

const json::object* GetObject(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v ? v->if_object() : nullptr;
}

const json::array* GetArray(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v ? v->if_array() : nullptr;
}

int64_t GetInt(const json::object& o, std::string_view key, int64_t fallback) {
  const json::value* v = o.if_contains(key);
  if (!v) return fallback;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->get_uint64());
  if (v->is_double()) {
    double d = v->get_double();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e18)
      return static_cast<int64_t>(d);
  }
  return fallback;
}

void ReadUsage(const json::object& o, std::string_view input_key, std::string_view output_key,
               ChatResponse& r) {
  const json::object* usage = GetObject(o, "usage");
  if (!usage) return;
  r.usage.input_tokens = GetInt(*usage, input_key);
  r.usage.output_tokens = GetInt(*usage, output_key);
  r.usage_reported = true;
}

void ReadMessageInfo(const json::object& o, std::string_view input_key, std::string_view output_key,
                     ChatResponse& r) {
  r.response_id = GetString(o, "id");
  r.provider_model = GetString(o, "model");
  ReadUsage(o, input_key, output_key, r);
}

std::string AsText(const json::value* v) {
  if (!v || v->is_null()) return "";
  if (v->is_string()) return std::string(v->get_string());
  return json::serialize(*v);
}

std::string JoinUrl(std::string_view base_url, std::string_view path) {
  while (!base_url.empty() && base_url.back() == '/') base_url.remove_suffix(1);
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  std::string url(base_url);
  url += '/';
  url += path;
  return url;
}

namespace {
bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}
}  // namespace

bool ContainsIgnoreCase(std::string_view haystack, std::string_view needle) {
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                        [](char x, char y) {
                          return std::tolower(static_cast<unsigned char>(x)) ==
                                 std::tolower(static_cast<unsigned char>(y));
                        });
  return it != haystack.end();
}

std::vector<std::pair<std::string, std::string>> MergeHeaders(
    std::vector<std::pair<std::string, std::string>> defaults,
    const std::vector<std::pair<std::string, std::string>>& extra) {
  for (const auto& [name, value] : extra) {
    std::erase_if(defaults, [&](const auto& h) { return EqualsIgnoreCase(h.first, name); });
  }
  defaults.insert(defaults.end(), extra.begin(), extra.end());
  return defaults;
}

HttpRequest JsonPost(const ProviderConfig& provider, std::string_view path,
                     std::vector<std::pair<std::string, std::string>> headers,
                     const json::object& body) {
  HttpRequest http;
  http.method = "POST";
  http.url = JoinUrl(provider.base_url, path);
  http.headers = MergeHeaders(std::move(headers), provider.headers);
  http.body = json::serialize(body);
  return http;
}

void PutTools(const json::object& request, json::object& body, ToolToWire to_wire) {
  const json::array* tools = GetArray(request, "tools");
  if (!tools || tools->empty()) return;
  json::array wire_tools;
  for (const json::value& t : *tools) {
    const json::object* tool = t.if_object();
    if (!tool) continue;
    wire_tools.push_back(to_wire(GetString(*tool, "name"), tool->if_contains("description"),
                                 tool->if_contains("parameters")));
  }
  body["tools"] = std::move(wire_tools);
}

ProviderError ParseProviderError(std::string_view body) {
  ProviderError pe;
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return pe;
  const json::object& o = v.get_object();
  if (const json::object* err = GetObject(o, "error")) {
    pe.message = GetString(*err, "message");
    pe.type = GetString(*err, "type");
    if (const json::value* code = err->if_contains("code")) {
      if (code->is_string()) {
        pe.code = code->get_string();
      } else if (code->is_number()) {
        pe.code = json::serialize(*code);
      }
    }
  } else if (std::string_view s = GetString(o, "error"); !s.empty()) {
    pe.message = s;
  } else if (std::string_view m = GetString(o, "message"); !m.empty()) {
    pe.message = m;
  } else if (std::string_view d = GetString(o, "detail"); !d.empty()) {
    pe.message = d;
  }
  return pe;
}

std::string StatusMessage(int status, std::string_view body) {
  return "HTTP " + std::to_string(status) + ": " + Snippet(body);
}

FailureClass ClassifyStatus(int status) {
  if (status == 408 || status == 409 || status == 425 || status == 429) {
    return FailureClass::kRetryable;
  }
  if (status >= 500 && status <= 599) return FailureClass::kRetryable;
  return FailureClass::kPermanent;
}

FailureClass ClassifyError(int status, std::string_view body, std::string* message,
                           bool (*is_spend_limit)(int status, const ProviderError& error)) {
  ProviderError pe = ParseProviderError(body);
  if (message) *message = pe.message.empty() ? StatusMessage(status, body) : pe.message;
  if (is_spend_limit(status, pe)) return FailureClass::kSpendLimit;
  return ClassifyStatus(status);
}

}  // namespace keel::gateway::wire
