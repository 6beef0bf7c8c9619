// The executor side of model and tool calls: ctx.llm, ctx.tool, ctx.tools (a parallel batch),
// the agent spec (ctx config entries) and ctx.budget. Budgets and loop detection are enforced
// here, before anything is sent, whatever the workflow's Lua code does; usage is recomputed
// from the journal on replay, so it survives a crash exactly.

#include <algorithm>
#include <boost/json.hpp>

#include "base/hash.h"
#include "engine/action_util.h"
#include "engine/active_run.h"
#include "model/json.h"
#include "observability/log.h"

namespace keel::engine {

namespace json = boost::json;
using detail::BoolField;
using detail::DoubleField;
using detail::DurationOption;
using detail::EarliestDeadline;
using detail::ErrorJson;
using detail::IntField;
using detail::StringField;
using detail::ToolMeta;
using lua::VmEvent;
using model::EntryKind;
using model::RunStatus;

namespace {

std::string JsonString(const std::string& s) { return json::serialize(json::value(s)); }

std::string RequestHash(std::string_view kind, const std::string& name, const std::string& arg) {
  return Hex64(Fnv1a64(std::string(kind) + "\n" + name + "\n" + arg));
}

std::string Shorten(const std::string& s, size_t n = 200) {
  return s.size() <= n ? s : s.substr(0, n) + "...";
}

// One parsed tool call of ctx.tool / ctx.tools.
struct ToolCallSpec {
  std::string name;
  std::string args_json;
  std::string hash;
};

json::array AttemptsJson(const std::vector<gateway::Attempt>& attempts) {
  json::array a;
  for (const auto& at : attempts) a.push_back(gateway::AttemptToJson(at));
  return a;
}

// The values ctx.tool returns to Lua for a journaled tool result.
struct ToolOutcome {
  bool ok = false;
  json::value value;  // ok: the result (or its blob reference)
  json::object error;
};

ToolOutcome ParseToolResult(const std::string& result_json) {
  ToolOutcome out;
  json::value v = model::StoredJson(result_json);
  if (!v.is_object()) {
    out.error = {{"code", "internal"}, {"message", "unreadable tool entry"}};
    return out;
  }
  if (auto* r = v.as_object().if_contains("result")) {
    out.ok = true;
    out.value = *r;
  } else if (auto* e = v.as_object().if_contains("error"); e && e->is_object()) {
    out.error = e->as_object();
  }
  return out;
}

}  // namespace

store::UsageUpdate LocalEngine::UsageOf(const ActiveRun& run) const {
  return store::UsageUpdate{run.steps_used, run.tools_used, run.tokens_used, run.cost_usd};
}

std::shared_ptr<gateway::CancelToken> LocalEngine::NewCallToken(const std::string& run_id) {
  auto token = std::make_shared<gateway::CancelToken>();
  bool stopped = false;
  {
    std::lock_guard lock(flags_mu_);
    auto it = flags_.find(run_id);
    if (it != flags_.end()) {
      auto& calls = it->second.calls;
      std::erase_if(calls, [](const auto& w) { return w.expired(); });
      calls.push_back(token);
      stopped = it->second.vm->load();
    }
  }
  if (stopped) token->Cancel();  // cancelled or past its deadline already
  return token;
}

std::optional<VmEvent> LocalEngine::BudgetReport(ActiveRun& run) {
  const model::Budget& b = run.rec.budget;
  // The largest share of any limit used so far: the agent loop degrades above a threshold.
  double share = 0;
  auto consider = [&](double used, double limit) {
    if (limit > 0) share = std::max(share, used / limit);
  };
  consider(static_cast<double>(run.steps_used), static_cast<double>(b.max_steps));
  consider(static_cast<double>(run.tools_used), static_cast<double>(b.max_tools));
  consider(static_cast<double>(run.tokens_used), static_cast<double>(b.max_tokens));
  consider(run.cost_usd, b.max_cost_usd);
  json::object o;
  o["used"] = {{"steps", run.steps_used},
               {"tools", run.tools_used},
               {"tokens", run.tokens_used},
               {"cost_usd", run.cost_usd}};
  o["limits"] = model::BudgetToJson(b);
  o["used_share"] = share;
  return Reply(run, true, {json::serialize(o)});
}

void LocalEngine::ExhaustBudget(ActiveRun& run, const std::string& message) {
  store::Transition t;
  t.status = RunStatus::kBudgetExhausted;
  t.error_code = "budget_exhausted";
  t.error_message = message;
  json::object result;
  // Never silent: whatever the model said last is handed back as the partial answer.
  if (run.last_answer.empty()) {
    result["partial_answer"] = nullptr;
  } else {
    result["partial_answer"] = run.last_answer;
  }
  result["usage"] = {{"steps", run.steps_used},
                     {"tools", run.tools_used},
                     {"tokens", run.tokens_used},
                     {"cost_usd", run.cost_usd}};
  t.result_json = json::serialize(result);
  obs::Warn("budget_exhausted", {{"run_id", run.rec.id},
                                 {"tenant", run.rec.tenant},
                                 {"intent", run.rec.intent},
                                 {"message", message}});
  EndOrRaise(run, RunStatus::kBudgetExhausted, t.error_code, message, t.result_json);
}

bool LocalEngine::AdmitCall(ActiveRun& run, const std::string& request_hash,
                            const std::string& what) {
  // Per lane: parallel branches asking the same thing (a quorum, a map over equal items) are
  // not a loop.
  int seen = ++run.repeats[run.lane + "|" + request_hash];
  if (run.compensating) return true;  // undo steps run whatever the budget says
  if (run.loop_max_repeats > 0 && seen >= run.loop_max_repeats) {
    metrics_->loops.Add();
    EndOrRaise(run, RunStatus::kFailed, "loop_detected",
               "loop detected: the same " + what + " was requested " + std::to_string(seen) +
                   " times in this run (limit " + std::to_string(run.loop_max_repeats) + ")");
    return false;
  }
  const model::Budget& b = run.rec.budget;
  if (b.max_steps > 0 && run.steps_used >= b.max_steps) {
    ExhaustBudget(run, "max_steps (" + std::to_string(b.max_steps) + ") reached before " + what);
    return false;
  }
  return true;
}

void LocalEngine::ParkUnavailable(ActiveRun& run, const std::string& reason, int64_t retry_at_ms,
                                  const std::string& message) {
  int64_t now = clock_.WallMs();
  int64_t at = std::max(retry_at_ms, now + 100);
  if (run.rec.deadline_at_ms > 0 && run.rec.deadline_at_ms < at) at = run.rec.deadline_at_ms;
  metrics_->unavailable_waits.Add();
  obs::Warn("run_waiting", {{"run_id", run.rec.id},
                            {"tenant", run.rec.tenant},
                            {"intent", run.rec.intent},
                            {"reason", reason},
                            {"retry_at_ms", at},
                            {"message", message}});
  json::object ev{{"reason", reason}, {"retry_at_ms", at}, {"message", message}};
  watchers_.NotifyLive(run.rec.id, "waiting", json::serialize(ev));
  store::Transition t;
  t.status = RunStatus::kWaiting;
  t.wait_reason = reason;
  t.wake_at_ms = at;
  t.release_lease = true;
  std::string id = run.rec.id;
  AppendThen(run, {}, t, [this, at](ActiveRun& r) { Park(r, at); });
}

// --- ctx.llm ---

std::optional<VmEvent> LocalEngine::LiveLlm(ActiveRun& run, const lua::Action& a) {
  auto lua_error = [&](const std::string& msg) {
    return Reply(run, false, {JsonString("ctx.llm: " + msg)});
  };
  if (!options_.gateway) {
    return lua_error(
        "no model gateway is configured: add [providers], [models] and [gateway] to the "
        "config (docs/configuration.md)");
  }
  json::value arg = model::StoredJson(a.arg_json);
  json::object* request_in = nullptr;
  if (arg.is_object()) {
    if (auto* r = arg.as_object().if_contains("request"); r && r->is_object()) {
      request_in = &r->as_object();
    }
  }
  if (!request_in) return lua_error("expected {messages = {...}, ...}");
  const json::object& opts = arg.as_object();
  std::string on_error = StringField(opts, "on_error", "raise");
  auto call_timeout = DurationOption(a.arg_json, "timeout");
  if (!call_timeout) return lua_error(call_timeout.error().message);
  const std::string target = a.name;
  const std::string request_text = json::serialize(*request_in);
  const std::string hash = RequestHash("llm", target, request_text);
  if (!AdmitCall(run, hash, "model request to \"" + target + "\"")) return std::nullopt;

  // Large tool results travel by reference in the journal; the provider gets the content.
  json::object request = *request_in;
  if (auto* msgs = request.if_contains("messages"); msgs && msgs->is_array()) {
    for (auto& m : msgs->as_array()) {
      if (!m.is_object()) continue;
      auto* content = m.as_object().if_contains("content");
      if (!content || !content->is_object()) continue;
      std::string ref = StringField(content->as_object(), "$ref");
      if (ref.rfind("blob:", 0) != 0) continue;
      auto blob = store_.GetBlob(ref.substr(5));
      if (!blob) return lua_error("cannot read " + ref + ": " + blob.error().message);
      *content = json::string(*blob);
    }
  }

  model::Budget b = run.rec.budget;
  if (run.compensating) b = model::Budget{.deadline_ms = b.deadline_ms};
  int64_t estimate = gateway::EstimateTokens(request);
  if (b.max_context > 0 && estimate > b.max_context) {
    ExhaustBudget(run, "max_context (" + std::to_string(b.max_context) +
                           " tokens per call) would be exceeded: this request to \"" + target +
                           "\" is about " + std::to_string(estimate) + " tokens");
    return std::nullopt;
  }
  if (b.max_tokens > 0) {
    int64_t left = b.max_tokens - run.tokens_used - estimate;
    if (left < 1) {
      ExhaustBudget(run, "max_tokens (" + std::to_string(b.max_tokens) + ") reached: " +
                             std::to_string(run.tokens_used) + " used, and the next request to \"" +
                             target + "\" needs about " + std::to_string(estimate));
      return std::nullopt;
    }
    // The answer may not spend more than what is left.
    int64_t asked = IntField(request, "max_tokens");
    request["max_tokens"] = asked > 0 ? std::min(asked, left) : left;
  }
  if (b.max_cost_usd > 0) {
    double input_price = 0;
    if (auto models = options_.gateway->ResolveTarget(target); models && !models->empty()) {
      input_price = options_.gateway->PriceOf(models->front()).input_usd_per_mtok;
    }
    double next = static_cast<double>(estimate) * input_price / 1e6;
    if (run.cost_usd + next >= b.max_cost_usd) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "max_cost_usd (%.4f) reached: %.4f spent", b.max_cost_usd,
                    run.cost_usd);
      ExhaustBudget(run, buf);
      return std::nullopt;
    }
  }

  const std::string id = run.rec.id;
  const uint64_t activation = run.activation;
  const int64_t seq = run.next_seq;
  gateway::ModelCallRequest req;
  req.run_id = id;
  req.tenant = run.rec.tenant;
  req.intent = run.rec.intent;
  req.target = target;
  req.request = std::move(request);
  const int64_t call_deadline = *call_timeout > 0 ? clock_.WallMs() + *call_timeout : 0;
  req.deadline_at_ms = EarliestDeadline(run.rec.deadline_at_ms, call_deadline);
  req.stream = BoolField(opts, "stream");
  req.prefer_last = BoolField(opts, "degrade");
  req.cancel = NewCallToken(id);
  req.on_text = [this, id, seq](std::string_view text) {
    json::object ev{{"seq", seq}, {"text", text}};
    watchers_.NotifyLive(id, "token", json::serialize(ev));
  };
  req.on_attempt = [this, id, seq](const gateway::Attempt& at) {
    json::object ev = gateway::AttemptToJson(at);
    ev["seq"] = seq;
    watchers_.NotifyLive(id, "attempt", json::serialize(ev));
  };
  // What the transcript shows: the request as the workflow gave it (blob references kept),
  // built from the text already serialized for the hash.
  std::string request_json =
      "{\"model\":" + JsonString(target) + ",\"request\":" + request_text + "}";
  const std::string lane = run.lane;
  options_.gateway->CallModel(std::move(req), [this, id, activation, hash, on_error, target, lane,
                                               call_deadline,
                                               request_json](gateway::ModelCallResult r) mutable {
    executors_.PostFor(id, [this, id, activation, hash, on_error, target, lane, call_deadline,
                            request_json = std::move(request_json), r = std::move(r)]() mutable {
      ActiveRun* run = Find(id, activation);
      if (!run || run->finishing) return;
      run->lane = lane;
      if (r.error_code == "deadline_exceeded" &&
          detail::StepTimedOut(clock_.WallMs(), run->rec.deadline_at_ms, call_deadline)) {
        r.error_code = "step_timeout";
        r.message = "the call's timeout passed: " + r.message;
      }
      if (r.error_code == "cancelled" || r.error_code == "deadline_exceeded") {
        // The run was cancelled (already terminal) or hit its deadline.
        if (!CheckDeadline(*run)) {
          FailRun(*run, RunStatus::kTimedOut, "deadline_exceeded",
                  "ctx.llm: the deadline left no time for the call: " + r.message);
        }
        return;
      }
      if (r.error_code == "provider_unavailable") {
        ParkUnavailable(*run, "provider_unavailable", r.retry_at_ms, r.message);
        return;
      }
      json::object result;
      std::vector<std::string> values;
      if (r.ok) {
        json::object resp = gateway::ResponseToJson(r.response);
        resp["model"] = r.model;
        resp["usage"].as_object()["cost_usd"] = r.cost_usd;
        int64_t in = r.response.usage.input_tokens, out = r.response.usage.output_tokens;
        run->tokens_used += in + out;
        run->cost_usd += r.cost_usd;
        if (!r.response.content.empty()) run->last_answer = r.response.content;
        metrics_->Tokens(run->rec.intent, run->rec.tenant, "input").Add(in);
        metrics_->Tokens(run->rec.intent, run->rec.tenant, "output").Add(out);
        metrics_->CostMicros(run->rec.intent, run->rec.tenant)
            .Add(static_cast<uint64_t>(r.cost_usd * 1e6 + 0.5));
        values.push_back(json::serialize(resp));
        result["response"] = std::move(resp);
      } else {
        json::object err{{"code", r.error_code}, {"message", r.message}};
        values = {"null", json::serialize(err)};
        result["error"] = std::move(err);
      }
      result["attempts"] = AttemptsJson(r.attempts);
      run->steps_used++;
      model::JournalEntry e = NewEntry(*run, EntryKind::kLlm, target, "", json::serialize(result));
      e.request_hash = hash;
      e.request_json = std::move(request_json);
      bool raise = !r.ok && on_error != "return";
      if (raise) values = {ErrorJson(r.error_code, "ctx.llm: " + r.message)};
      AppendThen(*run, {std::move(e)}, std::nullopt, [this, values, raise](ActiveRun& r) {
        metrics_->step_seconds.Observe(static_cast<double>(clock_.MonoUs() - r.action_started_us) /
                                       1e6);
        Continue(r, !raise, values);
      });
    });
  });
  return std::nullopt;
}

// --- ctx.tool / ctx.tools ---

namespace {

// Parses ctx.tool (name, {args, on_error}) or ctx.tools ({calls = {{name, args}...}}).
Result<std::vector<ToolCallSpec>> ParseToolCalls(const lua::Action& a, std::string* on_error) {
  json::value arg = model::StoredJson(a.arg_json);
  if (!arg.is_object()) return Error{Errc::kInvalidArgument, "bad arguments"};
  const json::object& o = arg.as_object();
  *on_error = StringField(o, "on_error", a.op == "tools" ? "return" : "raise");
  std::vector<ToolCallSpec> calls;
  auto add = [&](const std::string& name, const json::value* args) -> Status {
    if (name.empty()) return Error{Errc::kInvalidArgument, "a tool call needs a name"};
    ToolCallSpec c;
    c.name = name;
    // An empty Lua table arrives as {} (json_bridge); a missing one means no arguments.
    c.args_json = args ? json::serialize(*args) : "{}";
    c.hash = RequestHash("tool", c.name, c.args_json);
    calls.push_back(std::move(c));
    return OkStatus();
  };
  if (a.op == "tool") {
    if (Status s = add(a.name, o.if_contains("args")); !s) return s.error();
    return calls;
  }
  auto* list = o.if_contains("calls");
  if (!list || !list->is_array() || list->as_array().empty()) {
    return Error{Errc::kInvalidArgument, "expected a non-empty list {{name=..., args=...}, ...}"};
  }
  for (const auto& c : list->as_array()) {
    if (!c.is_object()) return Error{Errc::kInvalidArgument, "each call must be a table"};
    if (Status s = add(StringField(c.as_object(), "name"), c.as_object().if_contains("args")); !s)
      return s.error();
  }
  return calls;
}

}  // namespace

std::optional<VmEvent> LocalEngine::LiveTools(ActiveRun& run, const lua::Action& a) {
  const std::string fn = "ctx." + a.op;
  auto lua_error = [&](const std::string& msg) {
    return Reply(run, false, {JsonString(fn + ": " + msg)});
  };
  if (!options_.gateway) {
    return lua_error("no tool gateway is configured: add [tools] to the config");
  }
  std::string on_error;
  auto calls = ParseToolCalls(a, &on_error);
  if (!calls) return lua_error(calls.error().message);
  std::vector<gateway::Gateway::ToolTraits> traits;
  for (const auto& c : *calls) {
    auto t = options_.gateway->TraitsOf(c.name);
    traits.push_back(t ? *t : gateway::Gateway::ToolTraits{});
    if (t && t->effect && a.op == "tools") {
      return lua_error("tool \"" + c.name +
                       "\" has side effects (effect = true): call it with ctx.tool, which "
                       "delivers it through the outbox");
    }
  }
  model::Budget b = run.rec.budget;
  if (run.compensating) b = model::Budget{.deadline_ms = b.deadline_ms};
  for (size_t i = 0; i < calls->size(); ++i) {
    const ToolCallSpec& c = (*calls)[i];
    std::string what = "tool \"" + c.name + "\" with arguments " + Shorten(c.args_json);
    if (!AdmitCall(run, c.hash, what)) return std::nullopt;
    if (b.max_tools > 0 && run.tools_used + static_cast<int64_t>(i) >= b.max_tools) {
      ExhaustBudget(run, "max_tools (" + std::to_string(b.max_tools) + ") reached before " + what);
      return std::nullopt;
    }
    if (b.max_steps > 0 && run.steps_used + static_cast<int64_t>(i) >= b.max_steps) {
      ExhaustBudget(run, "max_steps (" + std::to_string(b.max_steps) + ") reached before " + what);
      return std::nullopt;
    }
  }
  auto call_timeout = DurationOption(a.arg_json, "timeout");
  if (!call_timeout) return lua_error(call_timeout.error().message);
  if (traits[0].effect) {
    const ToolCallSpec& c = (*calls)[0];
    int64_t timeout_at = *call_timeout > 0 ? clock_.WallMs() + *call_timeout : 0;
    EffectCall call{c.name, c.args_json, c.hash, on_error, traits[0].compensate_with,
                    "",     timeout_at};
    return LiveEffect(run, std::move(call), traits[0].outbox_max_attempts);
  }

  // Every call goes out at once; results are journaled together, in call order, when the
  // last one is back. A crash before that re-sends them with the same Idempotency-Key.
  struct Batch {
    std::vector<ToolCallSpec> calls;
    std::vector<gateway::ToolCallResult> results;
    std::atomic<size_t> left{0};
  };
  auto batch = std::make_shared<Batch>();
  batch->calls = std::move(*calls);
  batch->results.resize(batch->calls.size());
  batch->left = batch->calls.size();
  const std::string id = run.rec.id;
  const uint64_t activation = run.activation;
  const bool single = a.op == "tool";
  const std::string compensate_with = single ? traits[0].compensate_with : "";
  const std::string lane = run.lane;
  const int64_t call_deadline = *call_timeout > 0 ? clock_.WallMs() + *call_timeout : 0;
  auto token = NewCallToken(id);
  auto finish = [this, id, activation, batch, single, on_error, fn, lane, call_deadline,
                 compensate_with] {
    ActiveRun* run = Find(id, activation);
    if (!run || run->finishing) return;
    run->lane = lane;
    int64_t retry_at = 0;
    std::string unavailable;
    for (auto& r : batch->results) {
      if (r.error_code == "deadline_exceeded" &&
          detail::StepTimedOut(clock_.WallMs(), run->rec.deadline_at_ms, call_deadline)) {
        r.error_code = "step_timeout";
        r.message = "the call's timeout passed: " + r.message;
      }
      if (r.error_code == "cancelled" || r.error_code == "deadline_exceeded") {
        if (!CheckDeadline(*run)) {
          FailRun(*run, RunStatus::kTimedOut, "deadline_exceeded",
                  fn + ": the deadline left no time for the call: " + r.message);
        }
        return;
      }
      if (r.error_code == "tool_unavailable") {
        retry_at = retry_at == 0 ? r.retry_at_ms : std::min(retry_at, r.retry_at_ms);
        unavailable = r.message;
      }
    }
    if (!unavailable.empty()) {
      ParkUnavailable(*run, "tool_unavailable", retry_at, unavailable);
      return;
    }
    std::vector<model::JournalEntry> entries;
    store::AppendRequest extra;
    std::vector<store::Blob>& blobs = extra.blobs;
    json::array outcomes;
    std::string first_error_code, first_error;
    for (size_t i = 0; i < batch->calls.size(); ++i) {
      const auto& c = batch->calls[i];
      const auto& r = batch->results[i];
      int64_t seq = run->next_seq;
      json::object result;
      json::object outcome;
      if (r.ok) {
        json::value value = model::StoredJson(r.result_json);
        if (static_cast<int64_t>(r.result_json.size()) > options_.tool_result_inline_bytes) {
          std::string key = id + ":" + std::to_string(seq);
          blobs.push_back(store::Blob{key, r.result_json});
          value = json::object{{"$ref", "blob:" + key},
                               {"bytes", r.result_json.size()},
                               {"preview", Shorten(r.result_json, 256)}};
        }
        outcome["result"] = value;
        result["result"] = std::move(value);
      } else {
        json::object err{{"code", r.error_code}, {"message", r.message}};
        if (first_error_code.empty()) {
          first_error_code = r.error_code;
          first_error = "tool \"" + c.name + "\": " + r.message;
        }
        outcome["error"] = err;
        result["error"] = std::move(err);
      }
      result["attempts"] = AttemptsJson(r.attempts);
      run->tools_used++;
      run->steps_used++;
      metrics_->ToolCalls(run->rec.intent, r.ok ? "ok" : r.error_code).Add();
      model::JournalEntry e = NewEntry(*run, EntryKind::kTool, c.name, "", json::serialize(result));
      e.request_hash = c.hash;
      e.request_json = c.args_json;
      entries.push_back(std::move(e));
      outcomes.push_back(std::move(outcome));
    }
    std::vector<std::string> values;
    bool raise = false;
    if (single) {
      const json::object& o = outcomes[0].as_object();
      if (auto* r = o.if_contains("result")) {
        values = {json::serialize(*r), ToolMeta(compensate_with)};
      } else if (on_error != "return") {
        raise = true;
        values = {ErrorJson(first_error_code, fn + ": " + first_error)};
      } else {
        values = {"null", json::serialize(o.at("error"))};
      }
    } else {
      values = {json::serialize(outcomes)};
    }
    AppendThen(
        *run, std::move(entries), std::nullopt,
        [this, values, raise](ActiveRun& r) {
          metrics_->step_seconds.Observe(
              static_cast<double>(clock_.MonoUs() - r.action_started_us) / 1e6);
          Continue(r, !raise, values);
        },
        std::move(extra));
  };
  for (size_t i = 0; i < batch->calls.size(); ++i) {
    gateway::ToolCallRequest req;
    req.run_id = id;
    req.tenant = run.rec.tenant;
    req.intent = run.rec.intent;
    req.seq = run.next_seq + static_cast<int64_t>(i);
    if (!run.lane.empty()) {
      // In a branch the seq is taken when the result is journaled, in whatever order branches
      // finish: the key counts the branch's own entries instead, which replay reproduces.
      req.idempotency_key =
          id + ":" + run.lane + ":" +
          std::to_string(run.lane_entries[run.lane] + 1 + static_cast<int64_t>(i));
    }
    req.name = batch->calls[i].name;
    req.args_json = batch->calls[i].args_json;
    req.traceparent = detail::TraceParent(id, id + ":" + std::to_string(req.seq));
    req.deadline_at_ms = EarliestDeadline(run.rec.deadline_at_ms, call_deadline);
    req.cancel = token;
    int64_t seq = req.seq;
    req.on_attempt = [this, id, seq](const gateway::Attempt& at) {
      json::object ev = gateway::AttemptToJson(at);
      ev["seq"] = seq;
      watchers_.NotifyLive(id, "attempt", json::serialize(ev));
    };
    options_.gateway->CallTool(std::move(req),
                               [this, id, batch, i, finish](gateway::ToolCallResult r) {
                                 batch->results[i] = std::move(r);
                                 if (--batch->left == 0) executors_.PostFor(id, finish);
                               });
  }
  return std::nullopt;
}

// --- agent specs (config entries) ---

std::optional<VmEvent> LocalEngine::LiveConfig(ActiveRun& run, const lua::Action& a) {
  const std::string prefix = "agent:";
  if (a.name.rfind(prefix, 0) != 0) {
    return Reply(run, false, {JsonString("unknown configuration \"" + a.name + "\"")});
  }
  std::string name = a.name.substr(prefix.size());
  auto it = options_.agents.find(name);
  if (it == options_.agents.end()) {
    std::string known;
    for (const auto& [n, _] : options_.agents) known += (known.empty() ? "" : ", ") + n;
    return Reply(run, false,
                 {JsonString("unknown agent \"" + name +
                             "\" (known: " + (known.empty() ? "none" : known) + ")")});
  }
  json::object spec = model::AgentSpecToJson(it->second);
  json::array tools;
  json::object effect_tools;
  for (const auto& t : it->second.tools) {
    if (!options_.gateway) break;
    auto d = options_.gateway->DescribeTool(t);
    if (!d) {
      return Reply(run, false, {JsonString("agent \"" + name + "\": " + d.error().message)});
    }
    tools.push_back(std::move(*d));
    // The loop calls these one at a time with ctx.tool: they go through the outbox.
    if (auto traits = options_.gateway->TraitsOf(t); traits && traits->effect) {
      effect_tools[t] = true;
    }
  }
  spec["tools"] = std::move(tools);
  spec["effect_tools"] = std::move(effect_tools);
  run.loop_max_repeats = it->second.loop_max_repeats;
  std::string value = json::serialize(spec);
  AppendThen(run, {NewEntry(run, EntryKind::kConfig, a.name, "", value)}, std::nullopt,
             [this, value](ActiveRun& r) { Continue(r, true, {value}); });
  return std::nullopt;
}

// --- replay ---

std::optional<VmEvent> LocalEngine::ReplayCall(ActiveRun& run, const lua::Action& a) {
  if (a.op == "config") {
    if (!MatchJournal(run, EntryKind::kConfig, a.name)) return std::nullopt;
    std::string value = ConsumeEntry(run).result_json;
    json::value spec = model::StoredJson(value);
    if (spec.is_object())
      run.loop_max_repeats = static_cast<int>(IntField(spec.as_object(), "loop_max_repeats"));
    return Reply(run, true, {value});
  }
  if (a.op == "llm") {
    if (!MatchJournal(run, EntryKind::kLlm, a.name)) return std::nullopt;
    model::JournalEntry e = ConsumeEntry(run);
    run.repeats[run.lane + "|" + e.request_hash]++;
    run.steps_used++;
    json::value v = model::StoredJson(e.result_json);
    json::object* o = v.is_object() ? &v.as_object() : nullptr;
    if (o && o->if_contains("response") && o->at("response").is_object()) {
      const json::object& resp = o->at("response").as_object();
      if (auto* u = resp.if_contains("usage"); u && u->is_object()) {
        run.tokens_used +=
            IntField(u->as_object(), "input_tokens") + IntField(u->as_object(), "output_tokens");
        run.cost_usd += DoubleField(u->as_object(), "cost_usd");
      }
      std::string content = StringField(resp, "content");
      if (!content.empty()) run.last_answer = content;
      return Reply(run, true, {json::serialize(resp)});
    }
    json::object err = o && o->if_contains("error") && o->at("error").is_object()
                           ? o->at("error").as_object()
                           : json::object{{"code", "internal"}, {"message", "unreadable entry"}};
    json::value arg = model::StoredJson(a.arg_json);
    if (!arg.is_object() || StringField(arg.as_object(), "on_error") != "return") {
      return Reply(run, false,
                   {ErrorJson(StringField(err, "code", "internal"),
                              "ctx.llm: " + StringField(err, "message"))});
    }
    return Reply(run, true, {"null", json::serialize(err)});
  }
  // An effect tool: its intent, then (once settled) its outcome.
  if (a.op == "tool" && PeekEntry(run).kind == EntryKind::kOutbox) return ReplayEffect(run, a);
  // tool / tools: a batch was journaled as consecutive entries in one commit.
  std::string on_error;
  auto calls = ParseToolCalls(a, &on_error);
  if (!calls) return Reply(run, false, {JsonString("ctx." + a.op + ": " + calls.error().message)});
  json::array outcomes;
  for (const auto& c : *calls) {
    if (!run.replaying()) {
      metrics_->nondeterminism.Add();
      FailRun(run, RunStatus::kFailed, "non_determinism",
              "non-determinism: the workflow asked for tool \"" + c.name +
                  "\" in a batch, but the journal holds fewer calls");
      return std::nullopt;
    }
    if (!MatchJournal(run, EntryKind::kTool, c.name)) return std::nullopt;
    model::JournalEntry e = ConsumeEntry(run);
    run.repeats[run.lane + "|" + e.request_hash]++;
    run.tools_used++;
    run.steps_used++;
    ToolOutcome t = ParseToolResult(e.result_json);
    json::object outcome;
    if (t.ok) {
      outcome["result"] = t.value;
    } else {
      outcome["error"] = t.error;
    }
    outcomes.push_back(std::move(outcome));
  }
  if (a.op == "tools") return Reply(run, true, {json::serialize(outcomes)});
  const json::object& o = outcomes[0].as_object();
  if (auto* r = o.if_contains("result")) {
    auto traits = options_.gateway
                      ? options_.gateway->TraitsOf(a.name)
                      : Result<gateway::Gateway::ToolTraits>(Error{Errc::kNotFound, "no gateway"});
    return Reply(run, true, {json::serialize(*r), ToolMeta(traits ? traits->compensate_with : "")});
  }
  const json::object& err = o.at("error").as_object();
  if (on_error != "return") {
    return Reply(run, false,
                 {ErrorJson(StringField(err, "code", "tool_error"),
                            "ctx.tool: tool \"" + a.name + "\": " + StringField(err, "message"))});
  }
  return Reply(run, true, {"null", json::serialize(err)});
}

}  // namespace keel::engine
