#include "sim/simulator.h"

#include <algorithm>
#include <ctime>
#include <set>

#include "sim/json_util.h"
#include "sim/tools.h"

namespace keel::sim {

namespace json = boost::json;

Simulator::Simulator(SimOptions options, Scenario scenario)
    : options_(std::move(options)), rng_(options_.seed) {
  SetScenario(std::move(scenario));
}

void Simulator::SetScenario(Scenario scenario) {
  std::lock_guard lock(mu_);
  if (scenario.faults) faults_ = *scenario.faults;
  scenario_ = std::move(scenario);
}

Status Simulator::SetFaults(const json::value& faults) {
  auto t = FaultTable::Parse(faults);
  if (!t) return t.error();
  std::lock_guard lock(mu_);
  faults_ = std::move(*t);
  return OkStatus();
}

json::object Simulator::FaultsJson() {
  std::lock_guard lock(mu_);
  return faults_.ToJson();
}

std::vector<std::string> Simulator::Models() {
  std::lock_guard lock(mu_);
  std::set<std::string> models{"sim-large", "sim-small"};
  for (auto& m : scenario_.Models()) models.insert(m);
  for (auto& k : faults_.Keys()) {
    if (k != "*" && k.rfind("tool:", 0) != 0 && k.rfind("effect:", 0) != 0) models.insert(k);
  }
  return {models.begin(), models.end()};
}

std::string InvalidJsonArguments(const std::string& arguments) {
  if (arguments.size() <= 2) return "{\"";
  return arguments.substr(0, arguments.size() - 1) + ",";
}

std::string SchemaBreakingArguments(const std::string& arguments) {
  auto v = ParseJson(arguments);
  if (!v || !v->is_object() || v->as_object().empty()) {
    return R"({"__unexpected__":true})";
  }
  json::object out;
  for (const auto& kv : v->as_object()) {
    if (kv.value().is_string())
      out[kv.key()] = 12345;
    else
      out[kv.key()] = "not a " + std::string(kv.value().is_number() ? "number" : "string");
  }
  return json::serialize(out);
}

void Simulator::BreakToolArgs(Completion& c) {
  bool invalid = bad_args_count_++ % 2 == 0;
  for (auto& tc : c.tool_calls) {
    tc.arguments =
        invalid ? InvalidJsonArguments(tc.arguments) : SchemaBreakingArguments(tc.arguments);
  }
}

ChatPlan Simulator::PlanChat(const ChatRequest& req, const std::string& idempotency_key) {
  std::lock_guard lock(mu_);
  ChatPlan plan;
  plan.fault = faults_.Decide({req.model, "*"}, rng_);
  plan.latency_ms = options_.latency_ms + plan.fault.latency_ms;
  RequestRecord rec{0,   ApiName(req.api),           req.model,      req.fingerprint, "",
                    200, FaultName(plan.fault.kind), idempotency_key};
  const FaultDecision& f = plan.fault;
  if (f.IsErrorResponse()) {
    plan.status = f.kind == FaultKind::kSpendLimit && req.api == Api::kAnthropic ? 400 : f.status;
    rec.status = plan.status;
  } else if (f.kind == FaultKind::kReset || f.kind == FaultKind::kBlackhole ||
             (f.kind == FaultKind::kStall && !req.stream)) {
    rec.status = 0;
  }
  if (f.kind == FaultKind::kNone || !f.IsErrorResponse()) {
    auto answer = Respond(scenario_, req);
    if (!answer) {
      plan.status = 400;
      plan.error_message = answer.error().message;
      rec.status = 400;
    } else {
      Completion& c = plan.completion;
      c = std::move(*answer);
      bool openai = req.api == Api::kOpenAi;
      c.id = (openai ? "chatcmpl-" : "msg_") + std::to_string(++next_completion_);
      c.created = static_cast<int64_t>(std::time(nullptr));
      for (auto& tc : c.tool_calls) {
        tc.id = (openai ? "call_" : "toolu_") + std::to_string(++next_call_);
      }
      c.omit_usage = f.omit_usage;
      if (f.bad_tool_args && !c.tool_calls.empty()) {
        BreakToolArgs(c);
        rec.fault = "bad_tool_args";
      } else if (f.kind == FaultKind::kNone && f.omit_usage) {
        rec.fault = "omit_usage";
      }
      if (f.kind == FaultKind::kNone) rec.response_id = c.id;
    }
  }
  stats_.RecordModel(std::move(rec));
  return plan;
}

void Simulator::RecordRefused(Api api, const std::string& model, const std::string& fingerprint,
                              int status, const std::string& idempotency_key) {
  std::lock_guard lock(mu_);
  stats_.RecordModel(
      RequestRecord{0, ApiName(api), model, fingerprint, "", status, "", idempotency_key});
}

ToolPlan Simulator::PlanTool(const std::string& name, const std::string& body,
                             const std::string& idempotency_key, const std::string& traceparent) {
  ToolPlan plan;
  json::value args = json::object{};
  bool bad_body = false;
  if (!body.empty()) {
    auto parsed = ParseJson(body);
    if (parsed && parsed->is_object())
      args = std::move(*parsed);
    else
      bad_body = true;
  }
  std::string fingerprint =
      Fingerprint(json::object{{"tool", name}, {"body", bad_body ? json::value(body) : args}});
  std::lock_guard lock(mu_);
  plan.fault = faults_.Decide({"tool:" + name, "tool:*"}, rng_);
  plan.sleep_ms = plan.fault.latency_ms;
  RequestRecord rec{
      0, "tool", name, fingerprint, "", 200, FaultName(plan.fault.kind), idempotency_key};
  int64_t call_id = 0;
  const FaultDecision& f = plan.fault;
  if (f.IsErrorResponse()) {
    plan.status = f.status;
  } else if (f.kind == FaultKind::kReset || f.kind == FaultKind::kBlackhole ||
             f.kind == FaultKind::kStall) {
    plan.status = 0;
  } else if (bad_body) {
    plan.status = 400;
    plan.body = json::object{
        {"error", json::object{{"type", "invalid_request_error"},
                               {"message", "/tools/" + name +
                                               ": the body must be a JSON object of arguments"}}}};
  } else {
    ToolOutcome out = RunTool(name, args.as_object());
    plan.status = out.status;
    plan.body = std::move(out.body);
    plan.sleep_ms += out.sleep_ms;
    if (out.status == 200) {
      call_id = ++next_tool_call_id_;
      plan.body["call_id"] = call_id;
      if (f.kind == FaultKind::kNone) rec.response_id = std::to_string(call_id);
    }
  }
  rec.status = plan.status;
  stats_.RecordTool(std::move(rec), call_id, traceparent);
  return plan;
}

EffectPlan Simulator::PlanEffect(EffectMode mode, const std::string& name, const std::string& body,
                                 const std::string& idempotency_key) {
  EffectPlan plan;
  json::value args = json::object{};
  bool bad_body = false;
  if (!body.empty()) {
    auto parsed = ParseJson(body);
    if (parsed)
      args = std::move(*parsed);
    else
      bad_body = true;
  }
  std::string path = std::string(EffectModeName(mode)) + "/" + name;
  std::string fingerprint =
      Fingerprint(json::object{{"effect", path}, {"body", bad_body ? json::value(body) : args}});
  std::lock_guard lock(mu_);
  effects_.CountRequest(idempotency_key);
  plan.fault = faults_.Decide({"effect:" + name, "effect:*"}, rng_);
  plan.sleep_ms = plan.fault.latency_ms;
  RequestRecord rec{
      0, "effect", path, fingerprint, "", 200, FaultName(plan.fault.kind), idempotency_key};
  const FaultDecision& f = plan.fault;
  if (f.IsErrorResponse()) {
    plan.status = f.status;  // refused: nothing applied
  } else if (bad_body) {
    plan.status = 400;
    plan.body = json::object{
        {"error", json::object{{"type", "invalid_request_error"},
                               {"message",
                                "/effects/" + path + ": the body must be JSON (empty means {})"}}}};
  } else {
    EffectOutcome out = effects_.Apply(mode, name, args, idempotency_key, options_.clock->WallMs());
    plan.status = out.status;
    plan.body = std::move(out.body);
    plan.replay = out.replay;
    if (out.effect_id > 0 && f.kind == FaultKind::kNone) {
      rec.response_id = std::to_string(out.effect_id);
    }
  }
  bool answered =
      f.kind != FaultKind::kReset && f.kind != FaultKind::kBlackhole && f.kind != FaultKind::kStall;
  rec.status = answered ? plan.status : 0;
  stats_.RecordEffect(std::move(rec));
  return plan;
}

json::object Simulator::EffectsJson() {
  std::lock_guard lock(mu_);
  return effects_.ToJson();
}

json::object Simulator::StatsJson() {
  std::lock_guard lock(mu_);
  return stats_.StatsJson();
}

json::array Simulator::RequestsJson() {
  std::lock_guard lock(mu_);
  return stats_.RequestsJson();
}

void Simulator::Reset() {
  std::lock_guard lock(mu_);
  stats_.Reset();
  effects_.Reset();
}

}  // namespace keel::sim
