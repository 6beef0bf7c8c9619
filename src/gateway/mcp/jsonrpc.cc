#include "gateway/mcp/jsonrpc.h"

namespace keel::gateway::mcp {

namespace json = boost::json;

std::string RequestText(int64_t id, std::string_view method, const json::value& params) {
  json::object m{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
  if (!params.is_null()) m["params"] = params;
  return json::serialize(m);
}

std::string NotificationText(std::string_view method, const json::value& params) {
  json::object m{{"jsonrpc", "2.0"}, {"method", method}};
  if (!params.is_null()) m["params"] = params;
  return json::serialize(m);
}

Message Classify(const json::value& v) {
  Message m;
  if (!v.is_object()) return m;
  m.body = v.as_object();
  const json::value* method = m.body.if_contains("method");
  const json::value* id = m.body.if_contains("id");
  if (method && method->is_string()) {
    m.method = std::string(method->as_string());
    if (id && !id->is_null()) {
      m.kind = MessageKind::kRequest;
      m.id = *id;
    } else {
      m.kind = MessageKind::kNotification;
    }
    return m;
  }
  if (id && (m.body.contains("result") || m.body.contains("error"))) {
    m.kind = MessageKind::kResponse;
    m.id = *id;
  }
  return m;
}

std::optional<int64_t> IdNumber(const json::value& id) {
  if (id.is_int64()) return id.as_int64();
  if (id.is_uint64() && id.as_uint64() <= uint64_t(INT64_MAX)) return int64_t(id.as_uint64());
  // Some servers round-trip ids through doubles.
  if (id.is_double()) {
    double d = id.as_double();
    if (d >= 0 && d < 9.0e15 && d == double(int64_t(d))) return int64_t(d);
  }
  return std::nullopt;
}

std::string AnswerServerRequest(const Message& request) {
  json::object m{{"jsonrpc", "2.0"}, {"id", request.id}};
  if (request.method == "ping") {
    m["result"] = json::object{};
  } else {
    m["error"] = json::object{{"code", -32601},
                              {"message", "method not supported by keel: " + request.method}};
  }
  return json::serialize(m);
}

Result<json::value> ResponseResult(const json::object& response) {
  if (const json::value* err = response.if_contains("error"); err && !err->is_null()) {
    std::string text = "server answered with an error";
    if (err->is_object()) {
      const json::object& e = err->as_object();
      if (const json::value* code = e.if_contains("code"); code && code->is_number()) {
        text += " " + json::serialize(*code);
      }
      if (const json::value* msg = e.if_contains("message"); msg && msg->is_string()) {
        text += ": " + std::string(msg->as_string());
      }
    } else {
      text += ": " + json::serialize(*err);
    }
    return Error{Errc::kInvalidArgument, text};
  }
  if (const json::value* result = response.if_contains("result")) return *result;
  return Error{Errc::kInvalidArgument, "the response holds neither result nor error"};
}

}  // namespace keel::gateway::mcp
