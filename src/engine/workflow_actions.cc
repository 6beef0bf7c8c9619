// The workflow shape on the executor side: answers for parallel branches (the Lua scheduler's
// "await"), sagas (undo steps and the run's final status), child runs, approval gates and
// effect tools delivered through the outbox. docs/composition.md, docs/compensation.md,
// docs/approvals.md and docs/workflow_guarantees.md describe the behaviour.

#include <boost/json.hpp>

#include "base/failpoint.h"
#include "engine/action_util.h"
#include "engine/active_run.h"
#include "observability/log.h"

namespace keel::engine {

namespace json = boost::json;
using detail::BoolField;
using detail::DoubleField;
using detail::DurationOption;
using detail::ErrorJson;
using detail::IntField;
using detail::StringField;
using detail::ToolMeta;
using lua::VmEvent;
using model::EntryKind;
using model::RunStatus;

namespace {

json::object ObjectOf(const std::string& text) {
  json::value v = model::StoredJson(text);
  return v.is_object() ? std::move(v.as_object()) : json::object{};
}

// What is left of `limit` after `used`; 0 means no limit. At least 1 so that a child can say
// "nothing left" itself instead of running unlimited.
int64_t Remaining(int64_t limit, int64_t used) {
  if (limit <= 0) return 0;
  return std::max<int64_t>(1, limit - used);
}

int64_t Carve(int64_t parent_left, int64_t asked) {
  if (parent_left == 0) return asked;
  if (asked <= 0) return parent_left;
  return std::min(parent_left, asked);
}

}  // namespace

// --- answers ---

namespace {

// The scheduler's view of finished branch actions: [{"tag","ok","a","b"}].
std::string CompletionsJson(std::vector<BranchCompletion>& done) {
  // Built as text: the values already are JSON texts.
  std::string out = "[";
  for (size_t i = 0; i < done.size(); ++i) {
    const auto& c = done[i];
    if (i) out += ",";
    out +=
        "{\"tag\":" + json::serialize(json::value(c.tag)) + ",\"ok\":" + (c.ok ? "true" : "false");
    if (!c.values.empty()) out += ",\"a\":" + c.values[0];
    if (c.values.size() > 1) out += ",\"b\":" + c.values[1];
    out += "}";
  }
  out += "]";
  done.clear();
  return out;
}

}  // namespace

std::optional<VmEvent> LocalEngine::Reply(ActiveRun& run, bool ok,
                                          std::vector<std::string> values) {
  if (run.lane.empty()) return run.vm->Resume(ok, values);
  run.completions.push_back({run.lane, ok, std::move(values)});
  return std::nullopt;
}

void LocalEngine::Continue(ActiveRun& run, bool ok, std::vector<std::string> values) {
  if (run.lane.empty()) {
    Drive(run, run.vm->Resume(ok, values));
    return;
  }
  run.completions.push_back({run.lane, ok, std::move(values)});
  run.lane.clear();
  if (!run.awaiting) return;  // the scheduler takes it at its next await
  run.awaiting = false;
  Drive(run, run.vm->Resume(true, {CompletionsJson(run.completions)}));
}

std::optional<VmEvent> LocalEngine::Refuse(ActiveRun& run, std::string error_json) {
  bool replayed = run.replaying() && PeekEntry(run).kind == EntryKind::kError;
  if (replayed) error_json = ConsumeEntry(run).result_json;
  json::object err = ObjectOf(error_json);
  if (auto status = model::ParseStatus(StringField(err, "run_status"))) {
    const json::value* result = err.if_contains("result");
    run.pending_end =
        ActiveRun::PendingEnd{*status, StringField(err, "code"), StringField(err, "message"),
                              result ? json::serialize(*result) : ""};
  }
  if (replayed) return Reply(run, false, {error_json});
  model::JournalEntry e =
      NewEntry(run, EntryKind::kError, StringField(err, "code"), "", error_json);
  AppendThen(run, {std::move(e)}, std::nullopt,
             [this, error_json](ActiveRun& r) { Continue(r, false, {error_json}); });
  return std::nullopt;
}

void LocalEngine::EndOrRaise(ActiveRun& run, RunStatus status, const std::string& code,
                             const std::string& message, const std::string& result_json) {
  if (run.saga_depth > 0 && !run.compensating) {
    json::object extra{{"run_status", model::StatusName(status)}};
    if (!result_json.empty()) extra["result"] = model::StoredJson(result_json);
    // Reached from live checks only, so the refusal is journaled and answered later.
    auto ev = Refuse(run, ErrorJson(code, message, std::move(extra)));
    KEEL_CHECK(!ev);
    return;
  }
  store::Transition t;
  t.status = status;
  t.error_code = code;
  t.error_message = message;
  t.result_json = result_json;
  Finish(run, std::move(t));
}

// --- parallel branches ---

std::optional<VmEvent> LocalEngine::HandleAwait(ActiveRun& run, const lua::Action& a) {
  json::value arg = model::StoredJson(a.arg_json);
  const json::value* submit = arg.is_object() ? arg.as_object().if_contains("submit") : nullptr;
  if (submit && submit->is_array()) {
    for (const auto& s : submit->as_array()) {
      if (!s.is_object()) continue;
      const json::object& o = s.as_object();
      lua::Action sub;
      sub.op = StringField(o, "op");
      sub.name = StringField(o, "name");
      const json::value* sub_arg = o.if_contains("arg");
      sub.arg_json = sub_arg ? json::serialize(*sub_arg) : "null";
      run.lane = StringField(o, "tag");
      if (run.lane.empty()) run.lane = "?";
      // The scheduler refuses these before they get here; this guards the engine's own rules.
      if (sub.op == "signal" || sub.op == "approval" || sub.op == "interrupts" ||
          sub.op == "await" || sub.op == "fail") {
        Reply(run, false,
              {json::serialize(
                  json::value("ctx." + sub.op + " cannot be used inside a ctx.parallel branch"))});
      } else {
        auto ev = HandleAction(run, sub);
        KEEL_CHECK(!ev);  // a branch's answer is queued, never resumed directly
      }
      run.lane.clear();
      if (run.finishing) return std::nullopt;
    }
  }
  if (!run.completions.empty()) {
    return run.vm->Resume(true, {CompletionsJson(run.completions)});
  }
  run.awaiting = true;
  return std::nullopt;
}

// --- sagas ---

std::optional<VmEvent> LocalEngine::HandleSaga(ActiveRun& run, const lua::Action& a) {
  json::object o = ObjectOf(a.arg_json);
  run.saga_depth = static_cast<int>(IntField(o, "depth"));
  if (auto* c = o.if_contains("compensating"); c && c->is_bool()) run.compensating = c->get_bool();
  return Reply(run, true, {});
}

std::optional<VmEvent> LocalEngine::HandleFail(ActiveRun& run, const lua::Action& a) {
  json::object o = ObjectOf(a.arg_json);
  store::Transition t;
  t.status = model::ParseStatus(StringField(o, "status")).value_or(RunStatus::kFailed);
  if (!model::IsTerminal(t.status) || t.status == RunStatus::kSucceeded) {
    t.status = RunStatus::kFailed;
  }
  t.error_code = a.name.empty() ? "script_error" : a.name;
  t.error_message = StringField(o, "message");
  if (auto* r = o.if_contains("result"); r && !r->is_null()) t.result_json = json::serialize(*r);
  if (run.pending_end) {
    // The workflow caught the refusal and failed otherwise: the announced end stands.
    const ActiveRun::PendingEnd& p = *run.pending_end;
    t.error_code = p.code;
    t.error_message = p.message;
    if (t.status == RunStatus::kFailed) {
      t.status = p.status;
      t.result_json = p.result_json;
    }
  }
  if (t.status == RunStatus::kFailed) {
    // Logged by Finish; the others say why in their own events.
  } else if (t.status == RunStatus::kCompensated || t.status == RunStatus::kCompensationFailed) {
    obs::Warn("run_compensated", {{"run_id", run.rec.id},
                                  {"tenant", run.rec.tenant},
                                  {"intent", run.rec.intent},
                                  {"status", model::StatusName(t.status)},
                                  {"code", t.error_code},
                                  {"message", t.error_message}});
  }
  Finish(run, std::move(t));
  return std::nullopt;
}

// --- child runs ---

std::optional<VmEvent> LocalEngine::LiveChild(ActiveRun& run, const lua::Action& a) {
  auto lua_error = [&](const std::string& msg) {
    std::string fn = StringField(ObjectOf(a.arg_json), "fn", "run");
    return Reply(run, false,
                 {json::serialize(json::value("ctx." + fn + "(\"" + a.name + "\"): " + msg))});
  };
  json::object o = ObjectOf(a.arg_json);
  auto timeout = DurationOption(a.arg_json, "timeout");
  if (!timeout) return lua_error(timeout.error().message);
  std::string on_error = StringField(o, "on_error", "raise");
  int64_t now = clock_.WallMs();
  // Undo steps run whatever is left of the budget: a child they start is not carved.
  const model::Budget pb = run.compensating ? model::Budget{} : run.rec.budget;
  if (pb.max_steps > 0 && run.steps_used >= pb.max_steps) {
    ExhaustBudget(run, "max_steps (" + std::to_string(pb.max_steps) +
                           ") reached before child run \"" + a.name + "\"");
    return std::nullopt;
  }

  model::Envelope env;
  env.intent = a.name;
  env.tenant = run.rec.tenant;
  env.user = run.rec.user;
  env.correlation_id = run.rec.correlation_id.empty() ? run.rec.id : run.rec.correlation_id;
  const json::value* input = o.if_contains("input");
  env.payload_json = input ? json::serialize(*input) : "{}";
  // The child's budget: what it asked for, never more than what the parent has left.
  json::object asked;
  if (auto* b = o.if_contains("budget"); b && b->is_object()) asked = b->as_object();

  env.budget.max_steps =
      Carve(Remaining(pb.max_steps, run.steps_used), IntField(asked, "max_steps"));
  env.budget.max_tools =
      Carve(Remaining(pb.max_tools, run.tools_used), IntField(asked, "max_tools"));
  env.budget.max_tokens =
      Carve(Remaining(pb.max_tokens, run.tokens_used), IntField(asked, "max_tokens"));
  env.budget.max_context = Carve(pb.max_context, IntField(asked, "max_context"));
  double cost_left = pb.max_cost_usd > 0 ? std::max(1e-9, pb.max_cost_usd - run.cost_usd) : 0;
  double cost_asked = DoubleField(asked, "max_cost_usd");
  env.budget.max_cost_usd =
      cost_left == 0 ? cost_asked : (cost_asked > 0 ? std::min(cost_left, cost_asked) : cost_left);
  int64_t deadline_left =
      run.rec.deadline_at_ms > 0 ? std::max<int64_t>(1, run.rec.deadline_at_ms - now) : 0;
  env.budget.deadline_ms = Carve(deadline_left, IntField(asked, "deadline_ms"));

  // The id is journaled with the child row in one commit, so it need not be derivable.
  env.run_id = random_.UuidV7(now);
  run.has_children = true;
  auto admit = NewRun(env, now);
  if (!admit) return lua_error(admit.error().message);
  admit->run.parent_run_id = run.rec.id;
  model::RunRecord child = admit->run;

  model::JournalEntry e = NewEntry(run, EntryKind::kChild, a.name, a.arg_json,
                                   json::serialize(json::object{{"run_id", env.run_id}}));
  e.request_json = env.payload_json;
  store::AppendRequest extra;
  extra.children.push_back(std::move(*admit));
  int64_t timeout_at = *timeout > 0 ? now + *timeout : 0;
  std::string intent = a.name;
  AppendThen(
      run, {std::move(e)}, std::nullopt,
      [this, child = std::move(child), intent, on_error, timeout_at](ActiveRun& r) mutable {
        metrics_->Started(child.intent).Add();
        std::string child_id = child.id;
        PostActivate(std::move(child), /*fresh=*/true);
        WaitChild(r, child_id, intent, on_error, timeout_at);
      },
      std::move(extra));
  return std::nullopt;
}

std::optional<VmEvent> LocalEngine::ReplayChild(ActiveRun& run, const lua::Action& a) {
  if (!MatchJournal(run, EntryKind::kChild, a.name)) return std::nullopt;
  model::JournalEntry start = ConsumeEntry(run);
  run.has_children = true;
  std::string child_id = StringField(ObjectOf(start.result_json), "run_id");
  json::object o = ObjectOf(a.arg_json);
  std::string on_error = StringField(o, "on_error", "raise");
  if (run.replaying() && PeekEntry(run).kind == EntryKind::kChildResult) {
    if (!MatchJournal(run, EntryKind::kChildResult, a.name)) return std::nullopt;
    json::object res = ObjectOf(ConsumeEntry(run).result_json);
    if (auto* u = res.if_contains("usage"); u && u->is_object()) {
      run.steps_used += IntField(u->as_object(), "steps");
      run.tools_used += IntField(u->as_object(), "tools");
      run.tokens_used += IntField(u->as_object(), "tokens");
      run.cost_usd += DoubleField(u->as_object(), "cost_usd");
    }
    if (StringField(res, "status") == "succeeded") {
      const json::value* r = res.if_contains("result");
      return Reply(run, true, {r ? json::serialize(*r) : "null"});
    }
    json::object err = res.if_contains("error") && res.at("error").is_object()
                           ? res.at("error").as_object()
                           : json::object{};
    std::string code = StringField(err, "code", "child_failed");
    std::string error = ErrorJson(code, StringField(err, "message"),
                                  {{"run_id", child_id}, {"status", StringField(res, "status")}});
    if (on_error == "return") return Reply(run, true, {"null", error});
    return Reply(run, false, {error});
  }
  // Started but not finished when this run stopped: wait for it again. Its timeout counts
  // from when it was started.
  auto timeout = DurationOption(a.arg_json, "timeout");
  int64_t timeout_at = timeout && *timeout > 0 ? start.created_at_ms + *timeout : 0;
  WaitChild(run, child_id, a.name, on_error, timeout_at);
  return std::nullopt;
}

void LocalEngine::WaitChild(ActiveRun& run, const std::string& child_id, const std::string& intent,
                            const std::string& on_error, int64_t timeout_at) {
  // The child's end, its timeout and an end already committed all race to settle; the first
  // one to flip `fired` does.
  auto fired = std::make_shared<std::atomic<bool>>(false);
  auto watch = std::make_shared<std::atomic<WatchId>>(0);
  std::string id = run.rec.id;
  uint64_t activation = run.activation;
  std::string lane = run.lane;
  // Returns whether this call settled it.
  auto settle = [this, id, activation, lane, intent, on_error, child_id, fired,
                 watch](std::optional<model::RunRecord> child) {
    if (fired->exchange(true)) return false;
    if (WatchId w = watch->load()) watchers_.Remove(w);
    executors_.PostFor(
        id, [this, id, activation, lane, intent, on_error, child_id, child = std::move(child)] {
          ActiveRun* r = Find(id, activation);
          if (!r || r->finishing) return;
          r->lane = lane;
          SettleChild(*r, intent, on_error, child ? &*child : nullptr, child_id);
        });
    return true;
  };
  watch->store(
      watchers_.AddTerminal(child_id, [settle](const model::RunRecord& rec) { settle(rec); }));
  auto rec = store_.GetRun(child_id);
  if (rec && model::IsTerminal(rec->status)) {
    settle(*rec);
  } else if (rec && (rec->status == RunStatus::kRunning || rec->status == RunStatus::kQueued)) {
    // Normally resident already (or about to be); if its activation was lost (the parent was
    // evicted before it could start it), this starts it. A resident child is left alone.
    Wake(child_id);
  } else if (!rec && rec.error().code == Errc::kNotFound) {
    model::RunRecord missing;
    missing.id = child_id;
    missing.status = RunStatus::kFailed;
    missing.error_code = "internal";
    missing.error_message = "the child run " + child_id + " does not exist";
    settle(missing);
  }
  if (timeout_at > 0) {
    timers_.At(timeout_at, [this, id, activation, settle, child_id] {
      executors_.PostFor(id, [this, id, activation, settle, child_id] {
        if (!Find(id, activation)) return;  // a later activation has a timer of its own
        // Records the timeout, then stops the child.
        if (settle(std::nullopt)) Cancel(child_id, false, [](Result<model::RunRecord>) {});
      });
    });
  }
}

void LocalEngine::SettleChild(ActiveRun& run, const std::string& intent,
                              const std::string& on_error, const model::RunRecord* child,
                              const std::string& child_id) {
  json::object res;
  res["run_id"] = child_id;
  std::string code, message;
  if (!child) {
    res["status"] = "timed_out";
    code = "step_timeout";
    message = "child run " + child_id + " (" + intent + ")" +
              " did not finish within its timeout; it was cancelled";
  } else {
    res["status"] = model::StatusName(child->status);
    res["usage"] = {{"steps", child->steps_used},
                    {"tools", child->tools_used},
                    {"tokens", child->tokens_used},
                    {"cost_usd", child->cost_usd}};
    run.steps_used += child->steps_used;
    run.tools_used += child->tools_used;
    run.tokens_used += child->tokens_used;
    run.cost_usd += child->cost_usd;
    if (child->status == RunStatus::kSucceeded) {
      res["result"] = model::StoredJson(child->result_json);
    } else {
      code = "child_failed";
      message = "child run " + child_id + " (" + intent + ")" + " ended " +
                std::string(model::StatusName(child->status)) +
                (child->error_code.empty() ? "" : " (" + child->error_code + ")") +
                (child->error_message.empty() ? "" : ": " + child->error_message);
    }
  }
  if (!code.empty()) res["error"] = {{"code", code}, {"message", message}};
  std::vector<std::string> values;
  bool ok = true;
  if (code.empty()) {
    values = {json::serialize(res["result"])};
  } else {
    std::string error = ErrorJson(code, message, {{"run_id", child_id}, {"status", res["status"]}});
    if (on_error == "return") {
      values = {"null", error};
    } else {
      ok = false;
      values = {error};
    }
  }
  AppendThen(run, {NewEntry(run, EntryKind::kChildResult, intent, "", json::serialize(res))},
             std::nullopt, [this, ok, values](ActiveRun& r) { Continue(r, ok, values); });
}

void LocalEngine::StopDescendants(const std::string& run_id) {
  auto children = store_.ListChildren(run_id);
  if (!children) return;
  for (const auto& c : *children) {
    if (!model::IsTerminal(c.status)) continue;
    if (c.error_code == "parent_cancelled" || c.error_code == "parent_finished") {
      Terminal(c);
      InterruptVm(c.id);
      std::string id = c.id;
      executors_.PostFor(id, [this, id] { Evict(id); });
    }
    StopDescendants(c.id);
  }
}

// --- approvals ---

std::optional<VmEvent> LocalEngine::LiveApproval(ActiveRun& run, const lua::Action& a) {
  auto lua_error = [&](const std::string& msg) {
    return Reply(run, false, {json::serialize(json::value("ctx.approval: " + msg))});
  };
  json::object o = ObjectOf(a.arg_json);
  auto timeout = DurationOption(a.arg_json, "timeout");
  if (!timeout) return lua_error(timeout.error().message);
  int64_t now = clock_.WallMs();
  model::Approval ap;
  ap.seq = run.next_seq;
  ap.id = random_.UuidV7(now);  // journaled with the row in one commit
  ap.run_id = run.rec.id;
  ap.tenant = run.rec.tenant;
  ap.intent = run.rec.intent;
  ap.step = a.name;
  if (auto* p = o.if_contains("payload")) ap.payload_json = json::serialize(*p);
  if (auto* p = o.if_contains("approvers"); p && p->is_array()) {
    ap.approvers_json = json::serialize(*p);
  }
  if (auto* p = o.if_contains("escalate_to"); p && p->is_array()) {
    ap.escalate_to_json = json::serialize(*p);
  }
  ap.on_timeout = StringField(o, "on_timeout", "deny");
  if (ap.on_timeout != "deny" && ap.on_timeout != "approve" && ap.on_timeout != "escalate") {
    return lua_error("on_timeout must be \"deny\", \"approve\" or \"escalate\"");
  }
  if (ap.on_timeout == "escalate" && *timeout == 0) {
    return lua_error("on_timeout = \"escalate\" needs a timeout");
  }
  ap.timeout_ms = *timeout;
  ap.deadline_at_ms = *timeout > 0 ? now + *timeout : 0;
  ap.max_escalations =
      o.if_contains("max_escalations") ? static_cast<int>(IntField(o, "max_escalations")) : 1;
  ap.created_at_ms = now;
  bool required = BoolField(o, "required");

  model::JournalEntry e = NewEntry(
      run, EntryKind::kApproval, a.name, a.arg_json,
      json::serialize(json::object{{"approval_id", ap.id}, {"deadline_at_ms", ap.deadline_at_ms}}));
  e.request_json = ap.payload_json;
  store::AppendRequest extra;
  if (!options_.approval_notify_tool.empty()) {
    model::OutboxIntent n;
    n.key = ap.id + ":pending:0";
    n.run_id = run.rec.id;
    n.tenant = run.rec.tenant;
    n.kind = "notify";
    n.target = options_.approval_notify_tool;
    n.args_json = json::serialize(
        json::object{{"event", "approval.pending"}, {"approval", model::ApprovalToJson(ap)}});
    n.max_attempts = options_.approval_notify_max_attempts;
    n.next_attempt_at_ms = now;
    n.created_at_ms = n.updated_at_ms = now;
    extra.outbox.push_back(std::move(n));
  }
  extra.approvals.push_back(ap);
  std::string approval_id = ap.id;
  int64_t deadline = ap.deadline_at_ms;
  obs::Info("approval_created", {{"run_id", run.rec.id},
                                 {"approval_id", approval_id},
                                 {"step", a.name},
                                 {"deadline_at_ms", deadline}});
  AppendThen(
      run, {std::move(e)}, std::nullopt,
      [this, approval_id, deadline, required](ActiveRun& r) {
        if (deadline > 0) ScheduleApprovalExpiry(approval_id, deadline);
        if (outbox_) outbox_->Kick();
        if (auto ev = WaitApproval(r, approval_id, required)) Drive(r, std::move(*ev));
      },
      std::move(extra));
  return std::nullopt;
}

std::optional<VmEvent> LocalEngine::ReplayApproval(ActiveRun& run, const lua::Action& a) {
  if (!MatchJournal(run, EntryKind::kApproval, a.name)) return std::nullopt;
  std::string approval_id = StringField(ObjectOf(ConsumeEntry(run).result_json), "approval_id");
  json::object o = ObjectOf(a.arg_json);
  bool required = BoolField(o, "required");
  return WaitApproval(run, approval_id, required);
}

std::optional<VmEvent> LocalEngine::WaitApproval(ActiveRun& run, const std::string& approval_id,
                                                 bool required) {
  auto resume = [this, required](ActiveRun& r,
                                 const std::string& result_json) -> std::optional<VmEvent> {
    json::object entry = ObjectOf(result_json);
    const json::value* d = entry.if_contains("signal");
    json::object decision = d && d->is_object() ? d->as_object() : json::object{};
    bool approved = BoolField(decision, "approved");
    if (required && !approved) {
      return Reply(r, false,
                   {ErrorJson("approval_denied",
                              "approval " + StringField(decision, "approval_id") +
                                  " was denied by " + StringField(decision, "by") +
                                  (StringField(decision, "reason").empty()
                                       ? ""
                                       : ": " + StringField(decision, "reason")),
                              {{"decision", decision}})});
    }
    return Reply(r, true, {json::serialize(decision)});
  };
  std::string name = "$approval:" + approval_id;
  if (run.replaying() && PeekEntry(run).kind == EntryKind::kError) return Refuse(run, "");
  if (run.replaying()) {  // decided before this activation: the journaled decision
    if (!MatchJournal(run, EntryKind::kSignal, name)) return std::nullopt;
    return resume(run, ConsumeEntry(run).result_json);
  }
  return AwaitSignal(run, name, 0, resume);
}

void LocalEngine::ScheduleApprovalExpiry(const std::string& approval_id, int64_t at_ms) {
  timers_.At(at_ms, [this, approval_id] { ExpireApproval(approval_id); });
}

void LocalEngine::ExpireApproval(const std::string& approval_id) {
  if (stopped_ || draining_) return;  // the next start schedules it again
  store::ApprovalExpiry e;
  e.approval_id = approval_id;
  e.now_ms = clock_.WallMs();
  e.notify_target = options_.approval_notify_tool;
  e.notify_max_attempts = options_.approval_notify_max_attempts;
  store_.ExpireApproval(e, [this, approval_id](Result<store::ApprovalExpiryOutcome> r) {
    if (!r) {
      obs::Warn("approval_expiry_failed",
                {{"approval_id", approval_id}, {"error", r.error().message}});
      if (!stopped_) ScheduleApprovalExpiry(approval_id, clock_.WallMs() + 1'000);
      return;
    }
    const model::Approval& a = r->approval;
    if (r->escalated) {
      obs::Info("approval_escalated", {{"approval_id", a.id},
                                       {"run_id", a.run_id},
                                       {"level", a.escalation_level},
                                       {"deadline_at_ms", a.deadline_at_ms}});
      if (outbox_) outbox_->Kick();
    }
    if (r->decided) {
      obs::Info("approval_timed_out",
                {{"approval_id", a.id}, {"run_id", a.run_id}, {"decision", a.status}});
    }
    if (r->woke) Wake(a.run_id);
    // Not yet due (the timer fired early) or escalated: wait for the (new) deadline.
    if (a.status == "pending" && a.deadline_at_ms > 0) {
      ScheduleApprovalExpiry(a.id, a.deadline_at_ms);
    }
  });
}

// --- effect tools through the outbox ---

std::optional<VmEvent> LocalEngine::LiveEffect(ActiveRun& run, EffectCall call, int max_attempts) {
  int64_t now = clock_.WallMs();
  int64_t seq = run.next_seq;
  call.key = run.rec.id + ":" + std::to_string(seq);
  model::OutboxIntent intent;
  intent.key = call.key;
  intent.run_id = run.rec.id;
  intent.seq = seq;
  intent.tenant = run.rec.tenant;
  intent.kind = "tool";
  intent.target = call.name;
  intent.args_json = call.args_json;
  intent.max_attempts = max_attempts;
  intent.next_attempt_at_ms = now;
  intent.created_at_ms = intent.updated_at_ms = now;
  json::object result{{"key", call.key}};
  if (!call.compensate_with.empty()) result["compensate_with"] = call.compensate_with;
  if (call.timeout_at > 0) result["timeout_at_ms"] = call.timeout_at;
  model::JournalEntry e = NewEntry(run, EntryKind::kOutbox, call.name, "", json::serialize(result));
  e.request_hash = call.hash;
  e.request_json = call.args_json;
  store::AppendRequest extra;
  extra.outbox.push_back(std::move(intent));
  AppendThen(
      run, {std::move(e)}, std::nullopt,
      [this, call](ActiveRun& r) {
        Failpoint("outbox.after_intent_commit");
        if (outbox_) outbox_->Kick();
        WaitEffect(r, call);
      },
      std::move(extra));
  return std::nullopt;
}

std::optional<VmEvent> LocalEngine::ReplayEffect(ActiveRun& run, const lua::Action& a) {
  if (!MatchJournal(run, EntryKind::kOutbox, a.name)) return std::nullopt;
  model::JournalEntry intent = ConsumeEntry(run);
  run.repeats[run.lane + "|" + intent.request_hash]++;
  json::object o = ObjectOf(intent.result_json);
  EffectCall call{a.name,
                  intent.request_json,
                  intent.request_hash,
                  StringField(ObjectOf(a.arg_json), "on_error", "raise"),
                  StringField(o, "compensate_with"),
                  StringField(o, "key"),
                  IntField(o, "timeout_at_ms")};
  if (run.replaying() && PeekEntry(run).kind == EntryKind::kTool) {
    if (!MatchJournal(run, EntryKind::kTool, a.name)) return std::nullopt;
    json::object res = ObjectOf(ConsumeEntry(run).result_json);
    run.tools_used++;
    run.steps_used++;
    if (auto* r = res.if_contains("result")) {
      return Reply(run, true, {json::serialize(*r), ToolMeta(call.compensate_with)});
    }
    json::object err = res.if_contains("error") && res.at("error").is_object()
                           ? res.at("error").as_object()
                           : json::object{};
    std::string error =
        ErrorJson(StringField(err, "code", "effect_failed"),
                  "ctx.tool: tool \"" + a.name + "\": " + StringField(err, "message"));
    if (call.on_error == "return") return Reply(run, true, {"null", error});
    return Reply(run, false, {error});
  }
  WaitEffect(run, std::move(call));
  return std::nullopt;
}

void LocalEngine::WaitEffect(ActiveRun& run, EffectCall call) {
  std::string key = call.key;
  {
    std::lock_guard lock(effects_mu_);
    effect_waiters_[key] = EffectWaiter{run.rec.id, run.activation, run.lane, call};
  }
  if (call.timeout_at > 0) {
    // The workflow stops waiting; the intent stays in the outbox and may still take effect.
    std::string id = run.rec.id;
    uint64_t activation = run.activation;
    timers_.At(call.timeout_at, [this, id, activation, key] {
      executors_.PostFor(id, [this, id, activation, key] {
        EffectWaiter w;
        {
          std::lock_guard lock(effects_mu_);
          auto it = effect_waiters_.find(key);
          if (it == effect_waiters_.end() || it->second.activation != activation) return;
          w = std::move(it->second);
          effect_waiters_.erase(it);
        }
        ActiveRun* r = Find(id, activation);
        if (!r || r->finishing) return;
        r->lane = w.lane;
        model::OutboxIntent timed_out;
        timed_out.key = key;
        timed_out.status = "timed_out";
        SettleEffect(*r, w.call, timed_out);
      });
    });
  }
  // Settled before the waiter was registered (or by a previous process): settle from the row.
  auto row = store_.GetOutbox(key);
  if (!row) {
    if (row.error().code != Errc::kNotFound) return;  // the dispatcher's callback will come
    model::OutboxIntent missing;
    missing.key = key;
    missing.status = "failed";
    missing.result_json = ErrorJson("internal", "the outbox intent " + key + " is missing");
    row = missing;
  }
  if (row->status == "pending") return;
  {
    std::lock_guard lock(effects_mu_);
    if (!effect_waiters_.erase(key)) return;  // the dispatcher's callback got it first
  }
  SettleEffect(run, call, *row);
}

void LocalEngine::OnOutboxSettled(const model::OutboxIntent& row) {
  if (row.kind != "tool") return;
  EffectWaiter w;
  {
    std::lock_guard lock(effects_mu_);
    auto it = effect_waiters_.find(row.key);
    if (it == effect_waiters_.end()) return;  // not resident here: replay reads the row
    w = std::move(it->second);
    effect_waiters_.erase(it);
  }
  std::string id = w.run_id;
  executors_.PostFor(id, [this, w = std::move(w), row] {
    ActiveRun* r = Find(w.run_id, w.activation);
    if (!r || r->finishing) return;
    r->lane = w.lane;
    SettleEffect(*r, w.call, row);
  });
}

void LocalEngine::SettleEffect(ActiveRun& run, const EffectCall& call,
                               const model::OutboxIntent& row) {
  json::object result;
  json::object delivery{{"key", row.key}, {"attempts", row.attempts}};
  std::vector<std::string> values;
  bool ok = true;
  if (row.status == "delivered") {
    json::value value = model::StoredJson(row.result_json);
    values = {json::serialize(value), ToolMeta(call.compensate_with)};
    result["result"] = std::move(value);
  } else if (row.status == "timed_out") {
    std::string message = "ctx.tool: tool \"" + call.name +
                          "\": not confirmed within its timeout; the intent " + row.key +
                          " stays in the outbox and may still take effect";
    std::string error = ErrorJson("step_timeout", message);
    if (call.on_error == "return") {
      values = {"null", error};
    } else {
      ok = false;
      values = {error};
    }
    result["error"] = json::object{{"code", "step_timeout"}, {"message", message}};
  } else {
    json::object err = ObjectOf(row.result_json);
    std::string message = StringField(err, "message", row.last_error);
    json::object e{{"code", "effect_failed"},
                   {"message", "delivery failed after " + std::to_string(row.attempts) +
                                   " attempt(s): " + message}};
    if (!StringField(err, "code").empty()) e["cause"] = StringField(err, "code");
    std::string error = ErrorJson(
        "effect_failed", "ctx.tool: tool \"" + call.name + "\": " + StringField(e, "message"));
    if (call.on_error == "return") {
      values = {"null", error};
    } else {
      ok = false;
      values = {error};
    }
    result["error"] = std::move(e);
  }
  result["delivery"] = std::move(delivery);
  run.tools_used++;
  run.steps_used++;
  metrics_->ToolCalls(run.rec.intent, row.status == "delivered" ? "ok" : "effect_failed").Add();
  model::JournalEntry e = NewEntry(run, EntryKind::kTool, call.name, "", json::serialize(result));
  e.request_hash = call.hash;
  e.request_json = call.args_json;
  AppendThen(run, {std::move(e)}, std::nullopt,
             [this, ok, values](ActiveRun& r) { Continue(r, ok, values); });
}

}  // namespace keel::engine
