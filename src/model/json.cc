#include "model/json.h"

#include <cctype>

namespace keel::model {

namespace json = boost::json;

Result<json::value> ParseJson(std::string_view text, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return Error{Errc::kInvalidArgument,
                 "JSON body exceeds " + std::to_string(limits.max_bytes) + " bytes"};
  }
  json::parse_options opts;
  opts.max_depth = limits.max_depth;
  boost::system::error_code ec;
  json::monotonic_resource mr;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec) {
    std::string msg = "malformed JSON: " + ec.message();
    if (ec == json::error::too_deep) {
      msg = "JSON nesting deeper than " + std::to_string(limits.max_depth) + " levels";
    }
    return Error{Errc::kInvalidArgument, msg};
  }
  return v;
}

namespace {

Error FieldError(std::string_view field, std::string_view what) {
  return Error{Errc::kInvalidArgument, std::string(field) + ": " + std::string(what)};
}

bool ValidName(std::string_view s, size_t max_len) {
  if (s.empty() || s.size() > max_len) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
          c == ':' || c == '/' || c == '@'))
      return false;
  }
  return true;
}

Result<std::string> OptString(const json::object& o, std::string_view key, size_t max_len,
                              bool restricted) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return std::string();
  if (!it->value().is_string()) return FieldError(key, "must be a string");
  std::string s(it->value().get_string());
  if (s.size() > max_len) {
    return FieldError(key, "longer than " + std::to_string(max_len) + " characters");
  }
  if (restricted && !s.empty() && !ValidName(s, max_len)) {
    return FieldError(key, "may contain only letters, digits and _-.:/@");
  }
  return s;
}

Result<int64_t> OptLimit(const json::object& o, std::string_view key, std::string_view path) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return int64_t{0};
  const json::value& v = it->value();
  int64_t n;
  if (v.is_int64())
    n = v.get_int64();
  else if (v.is_uint64() && v.get_uint64() <= INT64_MAX)
    n = static_cast<int64_t>(v.get_uint64());
  else
    return FieldError(path, "must be a non-negative integer");
  if (n < 0) return FieldError(path, "must be a non-negative integer");
  return n;
}

}  // namespace

Result<Envelope> EnvelopeFromJson(const json::value& v) {
  if (!v.is_object()) return FieldError("body", "must be a JSON object (the invocation envelope)");
  const json::object& o = v.as_object();
  static constexpr std::string_view kKnown[] = {
      "run_id", "intent", "caller", "budget", "idempotency_key", "correlation_id", "payload"};
  for (const auto& kv : o) {
    bool known = false;
    for (auto k : kKnown) known |= kv.key() == k;
    if (!known) return FieldError(kv.key(), "unknown field of the invocation envelope");
  }
  Envelope env;
  auto run_id = OptString(o, "run_id", 128, true);
  if (!run_id) return run_id.error();
  env.run_id = *run_id;

  auto it = o.find("intent");
  if (it == o.end() || !it->value().is_string() || it->value().get_string().empty()) {
    return FieldError("intent", "required: the name of a workflow or agent");
  }
  auto intent = OptString(o, "intent", 128, true);
  if (!intent) return intent.error();
  env.intent = *intent;

  if (auto c = o.find("caller"); c != o.end() && !c->value().is_null()) {
    if (!c->value().is_object()) return FieldError("caller", "must be an object");
    const json::object& caller = c->value().as_object();
    auto tenant = OptString(caller, "tenant", 128, true);
    if (!tenant) return FieldError("caller.tenant", tenant.error().message.substr(8));
    if (!tenant->empty()) env.tenant = *tenant;
    auto user = OptString(caller, "user", 256, false);
    if (!user) return FieldError("caller.user", user.error().message.substr(6));
    env.user = *user;
  }

  if (auto b = o.find("budget"); b != o.end() && !b->value().is_null()) {
    if (!b->value().is_object()) return FieldError("budget", "must be an object");
    const json::object& budget = b->value().as_object();
    for (const auto& kv : budget) {
      static constexpr std::string_view kBudgetKeys[] = {
          "deadline_ms", "max_steps", "max_tools", "max_tokens", "max_context", "max_cost_usd"};
      bool known = false;
      for (auto k : kBudgetKeys) known |= kv.key() == k;
      if (!known) return FieldError("budget." + std::string(kv.key()), "unknown budget field");
    }
    auto deadline = OptLimit(budget, "deadline_ms", "budget.deadline_ms");
    if (!deadline) return deadline.error();
    auto steps = OptLimit(budget, "max_steps", "budget.max_steps");
    if (!steps) return steps.error();
    env.budget.deadline_ms = *deadline;
    env.budget.max_steps = *steps;
    auto tools = OptLimit(budget, "max_tools", "budget.max_tools");
    if (!tools) return tools.error();
    env.budget.max_tools = *tools;
    auto tokens = OptLimit(budget, "max_tokens", "budget.max_tokens");
    if (!tokens) return tokens.error();
    env.budget.max_tokens = *tokens;
    auto context = OptLimit(budget, "max_context", "budget.max_context");
    if (!context) return context.error();
    env.budget.max_context = *context;
    if (auto c = budget.find("max_cost_usd"); c != budget.end() && !c->value().is_null()) {
      double v = -1;
      if (c->value().is_double()) v = c->value().get_double();
      if (c->value().is_int64()) v = static_cast<double>(c->value().get_int64());
      if (c->value().is_uint64()) v = static_cast<double>(c->value().get_uint64());
      if (!(v >= 0 && v <= 1e9)) {
        return FieldError("budget.max_cost_usd", "must be a number of US dollars, 0 to 1e9");
      }
      env.budget.max_cost_usd = v;
    }
  }

  auto key = OptString(o, "idempotency_key", 256, false);
  if (!key) return key.error();
  env.idempotency_key = *key;
  auto corr = OptString(o, "correlation_id", 256, false);
  if (!corr) return corr.error();
  env.correlation_id = *corr;

  if (auto p = o.find("payload"); p != o.end()) {
    env.payload_json = json::serialize(p->value());
  }
  return env;
}

json::value StoredJson(std::string_view text) {
  if (text.empty()) return nullptr;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return nullptr;
  return v;
}

json::object BudgetToJson(const Budget& b) {
  json::object budget;
  if (b.deadline_ms) budget["deadline_ms"] = b.deadline_ms;
  if (b.max_steps) budget["max_steps"] = b.max_steps;
  if (b.max_tools) budget["max_tools"] = b.max_tools;
  if (b.max_tokens) budget["max_tokens"] = b.max_tokens;
  if (b.max_context) budget["max_context"] = b.max_context;
  if (b.max_cost_usd > 0) budget["max_cost_usd"] = b.max_cost_usd;
  return budget;
}

json::object RunToJson(const RunRecord& r) {
  json::object o;
  o["id"] = r.id;
  o["intent"] = r.intent;
  o["status"] = StatusName(r.status);
  o["caller"] = {{"tenant", r.tenant}, {"user", r.user}};
  o["payload"] = StoredJson(r.payload_json);
  o["budget"] = BudgetToJson(r.budget);
  o["usage"] = {{"steps", r.steps_used},
                {"tools", r.tools_used},
                {"tokens", r.tokens_used},
                {"cost_usd", r.cost_usd}};
  if (!r.idempotency_key.empty()) o["idempotency_key"] = r.idempotency_key;
  if (!r.correlation_id.empty()) o["correlation_id"] = r.correlation_id;
  o["code_hash"] = r.code_hash;
  if (r.status == RunStatus::kWaiting) {
    o["wait_reason"] = r.wait_reason;
    if (r.wake_at_ms) o["wake_at_ms"] = r.wake_at_ms;
  }
  if (r.deadline_at_ms) o["deadline_at_ms"] = r.deadline_at_ms;
  o["result"] = StoredJson(r.result_json);
  if (!r.error_code.empty()) {
    o["error"] = {{"code", r.error_code}, {"message", r.error_message}};
  } else {
    o["error"] = nullptr;
  }
  o["created_at_ms"] = r.created_at_ms;
  o["updated_at_ms"] = r.updated_at_ms;
  return o;
}

json::object EntryToJson(const JournalEntry& e) {
  json::object o;
  o["seq"] = e.seq;
  o["kind"] = EntryKindName(e.kind);
  o["name"] = e.name;
  o["request_hash"] = e.request_hash;
  if (!e.request_json.empty()) o["request"] = StoredJson(e.request_json);
  o["result"] = StoredJson(e.result_json);
  o["created_at_ms"] = e.created_at_ms;
  return o;
}

}  // namespace keel::model
