#include "sim/router.h"

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include "sim/anthropic.h"
#include "sim/json_util.h"
#include "sim/openai.h"

namespace keel::sim {

namespace json = boost::json;
namespace http = boost::beast::http;

namespace {

constexpr std::string_view kJson = "application/json";

std::string Header(const Request& req, std::string_view name) {
  auto it = req.find(name);
  return it == req.end() ? std::string() : std::string(it->value());
}

std::string ErrorBody(Api api, int status, const std::string& message) {
  return api == Api::kAnthropic ? AnthropicError(status, message) : OpenAiError(status, message);
}

std::string FaultMessage(const FaultDecision& f) {
  switch (f.kind) {
    case FaultKind::kOutage:
      return "keel-llm-sim: the provider is down (fault \"outage\")";
    case FaultKind::kFailNext:
      return "keel-llm-sim: injected failure (fault \"fail_next\")";
    case FaultKind::kRateLimitNext:
    case FaultKind::kRateLimit:
      return std::string("Rate limit reached for requests (keel-llm-sim fault \"") +
             FaultName(f.kind) + "\")";
    default:
      return "keel-llm-sim: injected error (fault \"error\")";
  }
}

bool IsRateLimit(FaultKind k) {
  return k == FaultKind::kRateLimit || k == FaultKind::kRateLimitNext;
}

// A JSON text cut in half: certainly not valid JSON any more.
std::string Cut(const std::string& body) { return body.substr(0, body.size() / 2); }

// The SSE frame with its data line cut in half (the event's JSON becomes invalid).
std::string BreakFrame(const std::string& frame) {
  size_t data = frame.find("data: ");
  if (data == std::string::npos) return frame;
  size_t start = data + 6;
  size_t end = frame.find('\n', start);
  size_t len = (end == std::string::npos ? frame.size() : end) - start;
  return frame.substr(0, start + len / 2) + "\n\n";
}

}  // namespace

Router::Router(Simulator& sim, std::function<bool(int64_t)> sleep)
    : sim_(sim), sleep_(std::move(sleep)) {}

Router::Next Router::Handle(Conn& conn, const Request& req) {
  std::string_view target = req.target();
  std::string path(target.substr(0, target.find('?')));
  http::verb method = req.method();
  auto wrong_method = [&](const char* allow) {
    conn.Respond(405, kJson,
                 OpenAiError(405, std::string(req.method_string()) + " is not allowed on " + path +
                                      " (use " + allow + ")"),
                 {{"Allow", allow}}, req.keep_alive());
    return req.keep_alive() ? Next::kKeepAlive : Next::kClose;
  };
  if (path == "/v1/chat/completions") {
    return method == http::verb::post ? Chat(conn, req, Api::kOpenAi) : wrong_method("POST");
  }
  if (path == "/v1/messages") {
    return method == http::verb::post ? Chat(conn, req, Api::kAnthropic) : wrong_method("POST");
  }
  if (path == "/v1/models") {
    return method == http::verb::get ? Models(conn, req) : wrong_method("GET");
  }
  if (path.rfind("/tools/", 0) == 0 && path.size() > 7 && path.find('/', 7) == std::string::npos) {
    return method == http::verb::post ? Tool(conn, req, path.substr(7)) : wrong_method("POST");
  }
  if (path.rfind("/effects/", 0) == 0) {
    return method == http::verb::post ? Effect(conn, req, path.substr(9)) : wrong_method("POST");
  }
  if (path.rfind("/admin/", 0) == 0) return Admin(conn, req, path);
  if (path == "/healthz") {
    conn.Respond(200, kJson, R"({"status":"ok"})", {}, req.keep_alive());
    return req.keep_alive() ? Next::kKeepAlive : Next::kClose;
  }
  conn.Respond(404, kJson,
               OpenAiError(404, "Unknown request URL: " + std::string(req.method_string()) + " " +
                                    path + ". See docs/llm_simulator.md for the endpoints."),
               {}, req.keep_alive());
  return req.keep_alive() ? Next::kKeepAlive : Next::kClose;
}

void Router::RespondUnreadable(Conn& conn, Conn::ReadResult why) {
  Api api = conn.target().rfind("/v1/messages", 0) == 0 ? Api::kAnthropic : Api::kOpenAi;
  if (why == Conn::ReadResult::kTooLarge) {
    conn.Respond(413, kJson,
                 ErrorBody(api, 413,
                           "Request exceeds the maximum allowed size of " +
                               std::to_string(kMaxRequestBytes) + " bytes."),
                 {}, false);
    conn.DrainRefusedBody(1000);
  } else {
    conn.Respond(400, kJson, ErrorBody(api, 400, "Malformed HTTP request."), {}, false);
  }
}

bool Router::Authorized(const Request& req, Api api) const {
  const std::string& key = sim_.options().require_key;
  if (key.empty()) return true;
  bool bearer = Header(req, "authorization") == "Bearer " + key;
  bool x_api_key = Header(req, "x-api-key") == key;
  if (api == Api::kOpenAi) return bearer;
  return bearer || x_api_key;
}

Router::Next Router::Fail(Conn& conn, const Request& req, Api api, const FaultDecision& fault,
                          int status, const std::string& message) {
  Headers headers;
  if (IsRateLimit(fault.kind)) {
    headers.emplace_back("Retry-After", std::to_string((fault.retry_after_ms + 999) / 1000));
    headers.emplace_back("retry-after-ms", std::to_string(fault.retry_after_ms));
  }
  std::string body;
  if (fault.kind == FaultKind::kSpendLimit) {
    body = api == Api::kAnthropic ? AnthropicSpendLimit() : OpenAiSpendLimit();
  } else {
    body = ErrorBody(api, status, message.empty() ? FaultMessage(fault) : message);
  }
  conn.Respond(status, kJson, body, headers, req.keep_alive());
  return req.keep_alive() ? Next::kKeepAlive : Next::kClose;
}

Router::Next Router::Chat(Conn& conn, const Request& req, Api api) {
  std::string idempotency_key = Header(req, "idempotency-key");
  auto parsed = ParseJson(req.body());
  std::string model;
  if (parsed && parsed->is_object()) {
    if (const json::value* m = parsed->as_object().if_contains("model"); m && m->is_string()) {
      model = std::string(m->as_string());
    }
  }
  FaultDecision none;
  if (!Authorized(req, api)) {
    sim_.RecordRefused(api, model, "", 401, idempotency_key);
    std::string message =
        api == Api::kAnthropic
            ? "invalid x-api-key"
            : (Header(req, "authorization").empty()
                   ? "You didn't provide an API key. You need to provide your API key in an "
                     "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                   : "Incorrect API key provided.");
    return Fail(conn, req, api, none, 401, message);
  }
  if (!parsed) {
    sim_.RecordRefused(api, "", "", 400, idempotency_key);
    return Fail(conn, req, api, none, 400,
                "We could not parse the JSON body of your request (" + parsed.error().message +
                    "). The request body must be valid JSON.");
  }
  auto chat = api == Api::kOpenAi ? ParseOpenAiRequest(*parsed) : ParseAnthropicRequest(*parsed);
  if (!chat) {
    sim_.RecordRefused(api, model, "", 400, idempotency_key);
    return Fail(conn, req, api, none, 400, chat.error().message);
  }
  ChatPlan plan = sim_.PlanChat(*chat, idempotency_key);
  const FaultDecision& f = plan.fault;
  bool streamed = chat->stream && !f.IsErrorResponse() && plan.status == 200 &&
                  f.kind != FaultKind::kReset && f.kind != FaultKind::kBlackhole;
  if (streamed) return Stream(conn, req, plan, api, chat->include_usage);
  if (!sleep_(plan.latency_ms)) return Next::kClose;
  if (f.IsErrorResponse()) return Fail(conn, req, api, f, plan.status, "");
  if (plan.status != 200) return Fail(conn, req, api, f, plan.status, plan.error_message);
  return Deliver(
      conn, req, f, 200,
      api == Api::kOpenAi ? OpenAiBody(plan.completion) : AnthropicBody(plan.completion));
}

Router::Next Router::Deliver(Conn& conn, const Request& req, const FaultDecision& f, int status,
                             std::string body, const Headers& headers) {
  switch (f.kind) {
    case FaultKind::kReset:
      return Next::kReset;
    case FaultKind::kBlackhole:
    case FaultKind::kStall:
      conn.WaitForClose();
      return Next::kClose;
    default:
      break;
  }
  bool keep = req.keep_alive();
  if (f.kind == FaultKind::kTruncated) {
    conn.WriteHead(status, kJson, static_cast<long long>(body.size()), headers, keep);
    conn.Write(Cut(body));
    return Next::kClose;
  }
  if (f.kind == FaultKind::kMalformed) body = Cut(body);
  conn.Respond(status, kJson, body, headers, keep);
  return keep ? Next::kKeepAlive : Next::kClose;
}

Router::Next Router::Stream(Conn& conn, const Request& req, const ChatPlan& plan, Api api,
                            bool include_usage) {
  const FaultDecision& f = plan.fault;
  std::vector<std::string> frames = api == Api::kOpenAi
                                        ? OpenAiStream(plan.completion, include_usage)
                                        : AnthropicStream(plan.completion);
  // Half the latency before the first byte (time to first token), the rest between events.
  int64_t before = plan.latency_ms / 2;
  int64_t gap =
      frames.size() > 1 ? (plan.latency_ms - before) / static_cast<int64_t>(frames.size() - 1) : 0;
  if (!sleep_(before)) return Next::kClose;
  size_t count = frames.size();
  if (f.kind == FaultKind::kStall) {
    count = std::min(count, static_cast<size_t>(f.stall_after_chunks));
  } else if (f.kind == FaultKind::kTruncated) {
    count = std::max<size_t>(1, count / 2);
  } else if (f.kind == FaultKind::kMalformed) {
    size_t i = frames.size() > 2 ? 1 : 0;
    frames[i] = BreakFrame(frames[i]);
  }
  bool keep = req.keep_alive();
  conn.WriteHead(200, "text/event-stream; charset=utf-8", -1, {{"Cache-Control", "no-cache"}},
                 keep);
  for (size_t i = 0; i < count && conn.ok(); ++i) {
    if (i > 0 && gap > 0 && !sleep_(gap)) return Next::kClose;
    conn.WriteChunk(frames[i]);
  }
  if (f.kind == FaultKind::kStall) {
    conn.WaitForClose();
    return Next::kClose;
  }
  if (f.kind == FaultKind::kTruncated) return Next::kClose;
  conn.EndChunks();
  return keep ? Next::kKeepAlive : Next::kClose;
}

Router::Next Router::Models(Conn& conn, const Request& req) {
  bool anthropic = !Header(req, "anthropic-version").empty();
  Api api = anthropic ? Api::kAnthropic : Api::kOpenAi;
  const std::string& key = sim_.options().require_key;
  if (!key.empty() && Header(req, "authorization") != "Bearer " + key &&
      Header(req, "x-api-key") != key) {
    return Fail(conn, req, api, FaultDecision{}, 401,
                anthropic ? "invalid x-api-key" : "Incorrect API key provided.");
  }
  auto models = sim_.Models();
  conn.Respond(200, kJson, anthropic ? AnthropicModels(models) : OpenAiModels(models), {},
               req.keep_alive());
  return req.keep_alive() ? Next::kKeepAlive : Next::kClose;
}

Router::Next Router::Tool(Conn& conn, const Request& req, const std::string& name) {
  ToolPlan plan =
      sim_.PlanTool(name, req.body(), Header(req, "idempotency-key"), Header(req, "traceparent"));
  const FaultDecision& f = plan.fault;
  if (!sleep_(plan.sleep_ms)) return Next::kClose;
  if (f.IsErrorResponse()) return Fail(conn, req, Api::kTool, f, plan.status, "");
  return Deliver(conn, req, f, plan.status, json::serialize(plan.body));
}

Router::Next Router::Effect(Conn& conn, const Request& req, const std::string& rest) {
  size_t slash = rest.find('/');
  std::string mode_name = rest.substr(0, slash);
  std::string name = slash == std::string::npos ? "" : rest.substr(slash + 1);
  auto mode = ParseEffectMode(mode_name);
  if (!mode || name.empty() || name.find('/') != std::string::npos) {
    conn.Respond(404, kJson,
                 OpenAiError(404, "Unknown effect URL /effects/" + rest +
                                      ": use /effects/honour/{name} (honours Idempotency-Key) "
                                      "or /effects/naive/{name} (ignores it)"),
                 {}, req.keep_alive());
    return req.keep_alive() ? Next::kKeepAlive : Next::kClose;
  }
  EffectPlan plan = sim_.PlanEffect(*mode, name, req.body(), Header(req, "idempotency-key"));
  const FaultDecision& f = plan.fault;
  if (!sleep_(plan.sleep_ms)) return Next::kClose;
  if (f.IsErrorResponse()) return Fail(conn, req, Api::kTool, f, plan.status, "");
  Headers headers;
  if (plan.replay) headers.emplace_back("Idempotent-Replay", "true");
  return Deliver(conn, req, f, plan.status, json::serialize(plan.body), headers);
}

Router::Next Router::Admin(Conn& conn, const Request& req, const std::string& path) {
  bool keep = req.keep_alive();
  auto reply = [&](int status, const std::string& body) {
    conn.Respond(status, kJson, body, {}, keep);
    return keep ? Next::kKeepAlive : Next::kClose;
  };
  auto bad = [&](const std::string& message) {
    return reply(
        400, json::serialize(json::object{{"error", json::object{{"type", "invalid_request_error"},
                                                                 {"message", message}}}}));
  };
  http::verb method = req.method();
  bool get = method == http::verb::get, post = method == http::verb::post;
  if (path == "/admin/stats" && get) return reply(200, json::serialize(sim_.StatsJson()));
  if (path == "/admin/requests" && get) return reply(200, json::serialize(sim_.RequestsJson()));
  if (path == "/admin/effects" && get) return reply(200, json::serialize(sim_.EffectsJson()));
  if (path == "/admin/faults" && get) return reply(200, json::serialize(sim_.FaultsJson()));
  if (path == "/admin/faults" && post) {
    auto v = ParseJson(req.body().empty() ? "{}" : req.body());
    if (!v) return bad("POST /admin/faults: " + v.error().message);
    auto st = sim_.SetFaults(*v);
    if (!st) return bad("POST /admin/faults: " + st.error().message);
    return reply(200, json::serialize(json::object{{"faults", sim_.FaultsJson()}}));
  }
  if (path == "/admin/scenario" && post) {
    auto v = ParseJson(req.body());
    if (!v) return bad("POST /admin/scenario: " + v.error().message);
    auto s = ParseScenario(*v);
    if (!s) return bad("POST /admin/scenario: " + s.error().message);
    int64_t rules = static_cast<int64_t>(s->rules.size());
    sim_.SetScenario(std::move(*s));
    return reply(200, json::serialize(json::object{{"ok", true}, {"rules", rules}}));
  }
  if (path == "/admin/reset" && post) {
    sim_.Reset();
    return reply(200, R"({"ok":true})");
  }
  bool known = path == "/admin/stats" || path == "/admin/requests" || path == "/admin/faults" ||
               path == "/admin/scenario" || path == "/admin/reset" || path == "/admin/effects";
  return reply(known ? 405 : 404,
               OpenAiError(known ? 405 : 404,
                           std::string(req.method_string()) + " " + path +
                               (known ? ": method not allowed" : ": no such admin endpoint")));
}

}  // namespace keel::sim
