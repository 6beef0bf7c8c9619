#include "gateway/tools/http_tool.h"

#include <cctype>

#include "gateway/policy/retry.h"

namespace keel::gateway {

namespace json = boost::json;

namespace {

constexpr size_t kMaxErrorMessageBytes = 500;
// Boost's default of 32 would turn a deeply nested JSON result into a string.
constexpr unsigned kMaxResultDepth = 1000;

bool Bodyless(const std::string& method) { return method == "GET" || method == "HEAD"; }

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string QueryString(const json::object& args) {
  std::string q;
  for (const auto& [key, value] : args) {
    if (value.is_null()) continue;
    if (!q.empty()) q += '&';
    q += PercentEncode(key);
    q += '=';
    q += value.is_string() ? PercentEncode(value.get_string())
                           : PercentEncode(json::serialize(value));
  }
  return q;
}

// Cuts at a UTF-8 character boundary, so the message stays valid JSON text when journaled.
std::string Utf8Prefix(std::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return std::string(s.substr(0, cut));
}

bool IsRetryableStatus(int status) { return status == 408 || status == 429 || status >= 500; }

}  // namespace

HttpRequest BuildHttpToolRequest(const ToolConfig& tool, const json::object& args,
                                 const std::string& idempotency_key, const std::string& traceparent,
                                 int64_t timeout_ms) {
  HttpRequest r;
  r.method = tool.method.empty() ? "POST" : tool.method;
  for (char& c : r.method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  r.url = tool.url;
  if (Bodyless(r.method)) {
    std::string q = QueryString(args);
    if (!q.empty()) r.url += (r.url.find('?') == std::string::npos ? "?" : "&") + q;
    r.headers.emplace_back("Accept", "application/json");
  } else {
    r.body = json::serialize(args);
    r.headers.emplace_back("Content-Type", "application/json");
  }
  r.headers.emplace_back("Idempotency-Key", idempotency_key);
  if (!traceparent.empty()) r.headers.emplace_back("traceparent", traceparent);
  for (const auto& h : tool.headers) r.headers.push_back(h);
  r.timeout_ms = timeout_ms;
  if (r.connect_timeout_ms > timeout_ms) r.connect_timeout_ms = timeout_ms;
  return r;
}

std::string ErrorBodyMessage(std::string_view body) {
  json::error_code ec;
  json::value v = json::parse(body, ec);
  if (!ec && v.is_object()) {
    const json::object& o = v.get_object();
    const json::value* err = o.if_contains("error");
    if (err && err->is_object()) {
      if (const json::value* m = err->get_object().if_contains("message"); m && m->is_string()) {
        return Utf8Prefix(m->get_string(), kMaxErrorMessageBytes);
      }
    }
    for (const char* key : {"error", "message", "detail"}) {
      if (const json::value* m = o.if_contains(key); m && m->is_string()) {
        return Utf8Prefix(m->get_string(), kMaxErrorMessageBytes);
      }
    }
  }
  return Utf8Prefix(body, kMaxErrorMessageBytes);
}

AttemptOutcome ClassifyHttpToolResult(HttpResult r, bool timeout_is_deadline, int64_t now_wall_ms) {
  AttemptOutcome o;
  switch (r.error) {
    case TransportError::kNone:
      break;
    case TransportError::kCancelled:
      o.kind = AttemptOutcome::Kind::kCancelled;
      o.error = "cancelled";
      return o;
    case TransportError::kTimeout:
      o.kind =
          timeout_is_deadline ? AttemptOutcome::Kind::kDeadline : AttemptOutcome::Kind::kRetryable;
      o.error = "timed out: " + r.error_message;
      return o;
    default:
      o.kind = AttemptOutcome::Kind::kRetryable;
      o.error = std::string(TransportErrorName(r.error)) + ": " + r.error_message;
      return o;
  }
  int status = r.response.status;
  o.http_status = status;
  std::string& body = r.response.body;
  if (status >= 200 && status < 300) {
    o.kind = AttemptOutcome::Kind::kOk;
    if (body.empty()) {
      o.result_json = "null";
      return o;
    }
    // Parsed only to tell JSON from text: JSON is passed on verbatim, so a large result costs
    // one parse on the HTTP thread and no copy.
    json::parse_options opts;
    opts.max_depth = kMaxResultDepth;
    json::error_code ec;
    json::parse(body, ec, {}, opts);
    o.result_json = ec ? json::serialize(json::string(body)) : std::move(body);
    return o;
  }
  o.error = "HTTP " + std::to_string(status) + ": " + ErrorBodyMessage(body);
  if (IsRetryableStatus(status)) {
    o.kind = AttemptOutcome::Kind::kRetryable;
    o.retry_after_ms = ParseRetryAfterMs(r.response.Header("retry-after"), now_wall_ms);
  } else {
    o.kind = AttemptOutcome::Kind::kToolError;
  }
  return o;
}

}  // namespace keel::gateway
