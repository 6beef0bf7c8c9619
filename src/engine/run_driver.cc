// The executor side of LocalEngine: activating a run, replaying its journal, and turning each
// ctx action into a journal entry. Everything here runs on the run's executor thread.

#include <boost/json.hpp>

#include "base/duration.h"
#include "base/hash.h"
#include "engine/action_util.h"
#include "engine/active_run.h"
#include "observability/log.h"

namespace keel::engine {

namespace json = boost::json;
using detail::ErrorJson;
using lua::VmEvent;
using model::EntryKind;
using model::RunStatus;

namespace {

std::optional<EntryKind> KindForOp(const std::string& op) {
  if (op == "step" || op == "commit") return EntryKind::kStep;
  if (op == "sleep") return EntryKind::kSleep;
  if (op == "signal") return EntryKind::kSignal;
  if (op == "now") return EntryKind::kNow;
  if (op == "random") return EntryKind::kRandom;
  if (op == "uuid") return EntryKind::kUuid;
  if (op == "emit") return EntryKind::kEmit;
  if (op == "interrupts") return EntryKind::kInterrupts;
  if (op == "llm") return EntryKind::kLlm;
  if (op == "tool" || op == "tools") return EntryKind::kTool;
  if (op == "config") return EntryKind::kConfig;
  if (op == "child") return EntryKind::kChild;
  if (op == "approval") return EntryKind::kApproval;
  if (op == "parallel") return EntryKind::kParallel;
  return std::nullopt;
}

std::string JsonString(const std::string& s) { return json::serialize(json::value(s)); }

// A duration argument: a string such as "30s" or a number of milliseconds. Null → 0.
Result<int64_t> DurationArg(const std::string& arg_json) {
  boost::system::error_code ec;
  json::value v = json::parse(arg_json, ec);
  if (ec || v.is_null()) return int64_t{0};
  if (v.is_string()) return ParseDurationMs(std::string(v.get_string()));
  if (v.is_int64() && v.get_int64() >= 0) return v.get_int64();
  if (v.is_double() && v.get_double() >= 0 && v.get_double() < 1e15) {
    return static_cast<int64_t>(v.get_double());
  }
  return Error{Errc::kInvalidArgument, "invalid duration " + arg_json};
}

int64_t WakeField(const std::string& result_json) {
  boost::system::error_code ec;
  json::value v = json::parse(result_json, ec);
  if (ec || !v.is_object()) return 0;
  auto* w = v.get_object().if_contains("wake_at");
  return w && w->is_int64() ? w->get_int64() : 0;
}

}  // namespace

void LocalEngine::InterruptVm(const std::string& run_id) {
  std::vector<std::shared_ptr<gateway::CancelToken>> calls;
  {
    std::lock_guard lock(flags_mu_);
    auto it = flags_.find(run_id);
    if (it == flags_.end()) return;
    it->second.vm->store(true);
    for (const auto& w : it->second.calls)
      if (auto c = w.lock()) calls.push_back(std::move(c));
  }
  // Outside the lock: cancelling runs the HTTP client's listener.
  for (const auto& c : calls) c->Cancel();
}

LocalEngine::ActiveRun* LocalEngine::Find(const std::string& run_id, uint64_t activation) {
  auto& shard = shards_[executors_.ThreadFor(run_id)];
  auto it = shard.find(run_id);
  if (it == shard.end() || it->second->activation != activation) return nullptr;
  return it->second.get();
}

void LocalEngine::Evict(const std::string& run_id) {
  {
    std::lock_guard lock(flags_mu_);
    flags_.erase(run_id);
  }
  auto& shard = shards_[executors_.ThreadFor(run_id)];
  if (shard.erase(run_id)) {
    resident_--;
    metrics_->resident_runs.Set(resident_);
  }
}

void LocalEngine::Activate(model::RunRecord rec, bool fresh) {
  auto& shard = shards_[executors_.ThreadFor(rec.id)];
  auto& slot = shard[rec.id];
  if (!slot) {
    resident_++;
    metrics_->resident_runs.Set(resident_);
  }
  // A cancel with compensation may have reached the placeholder while the lease was taken.
  bool cancel_requested = rec.cancel_requested || (slot && slot->cancel_requested);
  slot = std::make_unique<ActiveRun>();
  ActiveRun& run = *slot;
  run.activation = next_activation_++;
  run.resumed_wait_reason = rec.wait_reason;
  run.resumed_wake_at = rec.wake_at_ms;
  run.cancel_requested = cancel_requested;
  run.rec = std::move(rec);
  run.rec.status = RunStatus::kRunning;
  run.loop_max_repeats = options_.loop_max_repeats;
  if (auto agent = options_.agents.find(run.rec.intent); agent != options_.agents.end()) {
    run.loop_max_repeats = agent->second.loop_max_repeats;
  }
  if (CheckDeadline(run)) return;
  if (!fresh) {
    auto journal = store_.ReadJournal(run.rec.id, 0, 1 << 30);
    if (!journal) {
      OnWriteError(run.rec.id, run.activation, journal.error());
      return;
    }
    run.next_seq = static_cast<int64_t>(journal->size()) + 1;
    for (auto& e : *journal) {
      if (e.branch.empty()) {
        run.journal.push_back(std::move(e));
      } else {
        std::string tag = e.branch;
        run.branch_journal[tag].push_back(std::move(e));
      }
    }
  }
  auto code = registry_.ByHash(run.rec.code_hash);
  if (!code) {
    FailRun(run, RunStatus::kFailed, "internal",
            "the workflow code this run started with is missing: " + code.error().message);
    return;
  }
  ActiveRun* self = &run;
  auto vm = lua::WorkflowVm::Create(*code, run.rec.id, run.rec.payload_json, options_.vm,
                                    [self](const std::string& msg) {
                                      if (self->replaying()) return;  // said once, when live
                                      obs::Info("workflow_log", {{"run_id", self->rec.id},
                                                                 {"tenant", self->rec.tenant},
                                                                 {"intent", self->rec.intent},
                                                                 {"message", msg}});
                                    });
  if (!vm) {
    FailRun(run, RunStatus::kFailed, std::string(ErrcName(vm.error().code)), vm.error().message);
    return;
  }
  run.vm = std::move(*vm);
  {
    std::lock_guard lock(flags_mu_);
    flags_[run.rec.id] = RunHandles{run.vm->interrupt_handle(), {}};
  }
  if (run.rec.deadline_at_ms > 0) {
    std::string id = run.rec.id;
    uint64_t activation = run.activation;
    timers_.At(run.rec.deadline_at_ms, [this, id, activation] {
      InterruptVm(id);  // a script busy in Lua stops now, not at its next ctx call
      executors_.PostFor(id, [this, id, activation] {
        if (ActiveRun* r = Find(id, activation); r && !r->finishing) CheckDeadline(*r);
      });
    });
  }
  Drive(run, run.vm->Start());
}

void LocalEngine::Drive(ActiveRun& run, VmEvent ev) {
  for (;;) {
    if (run.finishing) return;
    switch (ev.kind) {
      case VmEvent::Kind::kDone: {
        run.lane.clear();
        if (run.replaying() || !run.branch_journal.empty()) {
          const auto& e = run.replaying() ? run.journal[run.cursor]
                                          : run.branch_journal.begin()->second.front();
          metrics_->nondeterminism.Add();
          FailRun(run, RunStatus::kFailed, "non_determinism",
                  "the workflow returned, but the journal holds more: entry " +
                      std::to_string(e.seq) + " is " + std::string(model::EntryKindName(e.kind)) +
                      " \"" + e.name + "\" (was the workflow code changed under this run?)");
          return;
        }
        store::Transition t;
        t.status = RunStatus::kSucceeded;
        t.result_json = std::move(ev.result_json);
        if (run.pending_end) {  // a refusal that ends the run was caught and ignored
          t.status = run.pending_end->status;
          t.error_code = run.pending_end->code;
          t.error_message = run.pending_end->message;
          t.result_json = run.pending_end->result_json;
        }
        Finish(run, std::move(t));
        return;
      }
      case VmEvent::Kind::kError:
        // Stopped by the deadline timer: that is a timeout, not a script error. (A cancel
        // stops it the same way; the run is already cancelled and the write below is refused.)
        if (CheckDeadline(run)) return;
        FailRun(run, RunStatus::kFailed, std::string(ErrcName(ev.error.code)), ev.error.message);
        return;
      case VmEvent::Kind::kAction: {
        if (CheckDeadline(run)) return;
        run.lane.clear();  // actions Lua yields itself are the main line's (see HandleAwait)
        auto next = HandleAction(run, ev.action);
        if (!next) return;
        ev = std::move(*next);
        break;
      }
    }
  }
}

std::optional<VmEvent> LocalEngine::HandleAction(ActiveRun& run, const lua::Action& a) {
  run.action_started_us = clock_.MonoUs();
  if (a.op == "budget") return BudgetReport(run);  // computed, not journaled
  if (a.op == "saga") return HandleSaga(run, a);
  if (a.op == "fail") return HandleFail(run, a);
  if (a.op == "await") return HandleAwait(run, a);
  if (run.replaying()) {
    // An action refused at this point before (budget, cancel): refused again.
    if (PeekEntry(run).kind == EntryKind::kError) return Refuse(run, "");
  } else if (!run.compensating) {
    // A cancel with compensation: the next live action fails, so that the undo steps run.
    if (run.cancel_requested) return StopForCancel(run);
    // The workflow caught a refusal that ends the run: every further action is refused too.
    if (run.pending_end) {
      const ActiveRun::PendingEnd& p = *run.pending_end;
      json::object extra{{"run_status", model::StatusName(p.status)}};
      if (!p.result_json.empty()) extra["result"] = model::StoredJson(p.result_json);
      return Refuse(run, ErrorJson(p.code, p.message, std::move(extra)));
    }
  }
  auto kind = KindForOp(a.op);
  if (!kind) return Reply(run, false, {JsonString("unknown ctx operation " + a.op)});
  if (run.replaying()) {
    bool call =
        *kind == EntryKind::kLlm || *kind == EntryKind::kTool || *kind == EntryKind::kConfig;
    if (*kind == EntryKind::kChild) return ReplayChild(run, a);
    if (*kind == EntryKind::kApproval) return ReplayApproval(run, a);
    return call ? ReplayCall(run, a) : Replay(run, a);
  }
  if (a.op == "llm") return LiveLlm(run, a);
  if (a.op == "tool" || a.op == "tools") return LiveTools(run, a);
  if (a.op == "config") return LiveConfig(run, a);
  if (a.op == "child") return LiveChild(run, a);
  if (a.op == "approval") return LiveApproval(run, a);
  return Live(run, a);
}

const model::JournalEntry& LocalEngine::PeekEntry(ActiveRun& run) {
  return run.lane.empty() ? run.journal[run.cursor] : run.branch_journal[run.lane].front();
}

bool LocalEngine::MatchJournal(ActiveRun& run, EntryKind want, const std::string& name) {
  const model::JournalEntry& e = PeekEntry(run);
  if (e.kind == want && e.name == name) return true;
  metrics_->nondeterminism.Add();
  FailRun(run, RunStatus::kFailed, "non_determinism",
          "non-determinism at journal entry " + std::to_string(e.seq) +
              ": the workflow asked for " + std::string(model::EntryKindName(want)) + " \"" + name +
              "\" but the journal holds " + std::string(model::EntryKindName(e.kind)) + " \"" +
              e.name + "\"");
  return false;
}

model::JournalEntry LocalEngine::ConsumeEntry(ActiveRun& run) {
  metrics_->replayed_entries.Add();
  if (!run.lane.empty()) {
    run.lane_entries[run.lane]++;
    auto it = run.branch_journal.find(run.lane);
    model::JournalEntry e = std::move(it->second.front());
    it->second.pop_front();
    if (it->second.empty()) run.branch_journal.erase(it);
    return e;
  }
  // Moved out before the journal goes: it is released once replay ends.
  model::JournalEntry e = std::move(run.journal[run.cursor]);
  run.cursor++;
  if (!run.replaying()) {
    run.journal.clear();
    run.journal.shrink_to_fit();
    run.cursor = 0;
  }
  return e;
}

std::optional<VmEvent> LocalEngine::Replay(ActiveRun& run, const lua::Action& a) {
  EntryKind want = *KindForOp(a.op);
  if (!MatchJournal(run, want, a.name)) return std::nullopt;
  std::string result = ConsumeEntry(run).result_json;
  switch (want) {
    case EntryKind::kStep:
      run.steps_used++;
      return Reply(run, true, {"true", result});
    case EntryKind::kSleep: {
      int64_t wake_at = WakeField(result);
      if (clock_.WallMs() >= wake_at) return Reply(run, true, {});
      return SleepUntil(run, wake_at, {});
    }
    case EntryKind::kSignal:
      return ResumeSignal(run, result);
    case EntryKind::kEmit:
    case EntryKind::kParallel:
      return Reply(run, true, {});
    default:  // now, random, uuid, interrupts: the journaled value
      return Reply(run, true, {result});
  }
}

model::JournalEntry LocalEngine::NewEntry(ActiveRun& run, EntryKind kind, const std::string& name,
                                          const std::string& arg_json, std::string result_json) {
  model::JournalEntry e;
  e.run_id = run.rec.id;
  e.seq = run.next_seq++;
  e.kind = kind;
  e.name = name;
  e.request_hash =
      Hex64(Fnv1a64(std::string(model::EntryKindName(kind)) + "\n" + name + "\n" + arg_json));
  e.result_json = std::move(result_json);
  e.created_at_ms = clock_.WallMs();
  e.branch = run.lane;
  if (!run.lane.empty()) run.lane_entries[run.lane]++;
  return e;
}

std::optional<VmEvent> LocalEngine::Live(ActiveRun& run, const lua::Action& a) {
  int64_t now = clock_.WallMs();
  auto resume_with = [this](std::string value) {
    return [this, value = std::move(value)](ActiveRun& r) {
      metrics_->step_seconds.Observe(static_cast<double>(clock_.MonoUs() - r.action_started_us) /
                                     1e6);
      Continue(r, true, {value});
    };
  };
  if (a.op == "step") {
    if (!run.compensating && run.rec.budget.max_steps > 0 &&
        run.steps_used >= run.rec.budget.max_steps) {
      ExhaustBudget(run, "max_steps (" + std::to_string(run.rec.budget.max_steps) +
                             ") reached before step \"" + a.name + "\"");
      return std::nullopt;
    }
    return Reply(run, true, {"false"});
  }
  if (a.op == "commit") {
    run.steps_used++;
    auto e = NewEntry(run, EntryKind::kStep, a.name, "", a.arg_json);
    AppendThen(run, {std::move(e)}, std::nullopt, resume_with(a.arg_json));
    return std::nullopt;
  }
  if (a.op == "sleep") {
    auto ms = DurationArg(a.arg_json);
    if (!ms) return Reply(run, false, {JsonString("ctx.sleep: " + ms.error().message)});
    int64_t wake_at = now + *ms;
    auto e = NewEntry(run, EntryKind::kSleep, "sleep", a.arg_json,
                      "{\"wake_at\":" + std::to_string(wake_at) + "}");
    return SleepUntil(run, wake_at, {std::move(e)});
  }
  if (a.op == "now") {
    std::string v = std::to_string(now);
    AppendThen(run, {NewEntry(run, EntryKind::kNow, "now", "", v)}, std::nullopt, resume_with(v));
    return std::nullopt;
  }
  if (a.op == "random") {
    std::string v = json::serialize(json::value(random_.NextDouble()));
    AppendThen(run, {NewEntry(run, EntryKind::kRandom, "random", "", v)}, std::nullopt,
               resume_with(v));
    return std::nullopt;
  }
  if (a.op == "uuid") {
    std::string v = JsonString(random_.UuidV4());
    AppendThen(run, {NewEntry(run, EntryKind::kUuid, "uuid", "", v)}, std::nullopt, resume_with(v));
    return std::nullopt;
  }
  if (a.op == "parallel") {
    AppendThen(run, {NewEntry(run, EntryKind::kParallel, a.name, "", a.arg_json)}, std::nullopt,
               [this](ActiveRun& r) { Continue(r, true, {}); });
    return std::nullopt;
  }
  if (a.op == "emit") {
    AppendThen(run, {NewEntry(run, EntryKind::kEmit, "emit", "", a.arg_json)}, std::nullopt,
               [this](ActiveRun& r) { Continue(r, true, {}); });
    return std::nullopt;
  }
  if (a.op == "interrupts") {
    std::string id = run.rec.id;
    uint64_t activation = run.activation;
    int64_t seq = run.next_seq++;
    store_.TakeInterrupts(id, run.rec.lease_owner, run.rec.lease_epoch, seq,
                          [this, id, activation](Result<model::JournalEntry> r) {
                            executors_.PostFor(id, [this, id, activation, r = std::move(r)] {
                              if (!r) return OnWriteError(id, activation, r.error());
                              ActiveRun* run = Find(id, activation);
                              if (!run || run->finishing) return;
                              watchers_.NotifyChange(id);
                              Drive(*run, run->vm->Resume(true, {r->result_json}));
                            });
                          });
    return std::nullopt;
  }
  // signal
  auto timeout = DurationArg(a.arg_json);
  if (!timeout) return Reply(run, false, {JsonString("ctx.signal: " + timeout.error().message)});
  int64_t timeout_at = 0;
  if (run.resumed_wait_reason == "signal:" + a.name && run.resumed_wake_at > 0) {
    timeout_at = run.resumed_wake_at;  // woken before the timeout: keep the original one
  } else if (*timeout > 0) {
    timeout_at = now + *timeout;
  }
  run.resumed_wait_reason.clear();
  return AwaitSignal(run, a.name, timeout_at, [this](ActiveRun& r, const std::string& result_json) {
    return ResumeSignal(r, result_json);
  });
}

std::optional<VmEvent> LocalEngine::AwaitSignal(ActiveRun& run, const std::string& name,
                                                int64_t timeout_at, SignalResume resume) {
  // A parked run woken by a cancel with compensation must not park again.
  if (run.cancel_requested && !run.compensating) return StopForCancel(run);
  store::SignalWaitRequest req;
  req.run_id = run.rec.id;
  req.lease_owner = run.rec.lease_owner;
  req.lease_epoch = run.rec.lease_epoch;
  req.seq = run.next_seq;
  req.name = name;
  req.timeout_at_ms = timeout_at;
  req.usage = UsageOf(run);
  req.now_ms = clock_.WallMs();
  std::string id = run.rec.id;
  uint64_t activation = run.activation;
  int64_t deadline = run.rec.deadline_at_ms;
  store_.WaitForSignal(std::move(req), [this, id, activation, timeout_at, deadline,
                                        resume](Result<store::SignalWaitOutcome> r) {
    executors_.PostFor(id, [this, id, activation, timeout_at, deadline, resume, r = std::move(r)] {
      if (!r) return OnWriteError(id, activation, r.error());
      ActiveRun* run = Find(id, activation);
      if (!run || run->finishing) return;
      if (r->parked) {
        int64_t at = timeout_at;
        if (deadline > 0 && (at == 0 || deadline < at)) at = deadline;
        Park(*run, at);
        return;
      }
      run->next_seq++;
      run->lane.clear();  // signals are waited for on the main line only
      watchers_.NotifyChange(id);
      if (auto ev = resume(*run, r->entry.result_json)) Drive(*run, std::move(*ev));
    });
  });
  return std::nullopt;
}

std::optional<VmEvent> LocalEngine::ResumeSignal(ActiveRun& run, const std::string& result_json) {
  boost::system::error_code ec;
  json::value v = json::parse(result_json, ec);
  if (!ec && v.is_object()) {
    if (auto* s = v.get_object().if_contains("signal"))
      return Reply(run, true, {json::serialize(*s)});
  }
  return Reply(run, true, {"null", "\"timeout\""});
}

void LocalEngine::Park(ActiveRun& run, int64_t at_ms) {
  std::string id = run.rec.id;
  bool cancel = run.cancel_requested && !run.compensating;
  Evict(id);
  if (cancel) {
    Wake(id);  // the cancel arrived while the park was being written: act on it now
  } else if (at_ms > 0) {
    ScheduleWake(id, at_ms);
  }
}

std::optional<VmEvent> LocalEngine::StopForCancel(ActiveRun& run) {
  if (run.saga_depth == 0) {
    FailRun(run, RunStatus::kCancelled, "cancelled", "cancelled by request");
    return std::nullopt;
  }
  return Refuse(run, ErrorJson("cancelled", "cancelled by request (compensating)",
                               {{"run_status", "cancelled"}}));
}

std::optional<VmEvent> LocalEngine::SleepUntil(ActiveRun& run, int64_t wake_at,
                                               std::vector<model::JournalEntry> entries) {
  // A parked run woken by a cancel with compensation stops sleeping.
  if (run.cancel_requested && !run.compensating) return StopForCancel(run);
  int64_t now = clock_.WallMs();
  int64_t deadline = run.rec.deadline_at_ms;
  int64_t at = (deadline > 0 && deadline < wake_at) ? deadline : wake_at;
  std::string id = run.rec.id;
  // A branch of ctx.parallel never parks: the other branches keep the run resident.
  if (wake_at - now < options_.resident_sleep_ms || !run.lane.empty()) {
    // Short: keep the Lua state and resume from a timer.
    auto arm = [this, id, at](ActiveRun& r) {
      uint64_t activation = r.activation;
      std::string lane = r.lane;
      timers_.At(at, [this, id, activation, lane] {
        executors_.PostFor(id, [this, id, activation, lane] {
          ActiveRun* r = Find(id, activation);
          if (!r || r->finishing || CheckDeadline(*r)) return;
          r->lane = lane;
          Continue(*r, true, {});
        });
      });
    };
    if (entries.empty()) {
      arm(run);
    } else {
      AppendThen(run, std::move(entries), std::nullopt, arm);
    }
    return std::nullopt;
  }
  // Long: park the run; it holds no memory until the timer wakes it.
  store::Transition t;
  t.status = RunStatus::kWaiting;
  t.wait_reason = "timer";
  t.wake_at_ms = wake_at;
  t.release_lease = true;
  AppendThen(run, std::move(entries), t, [this, at](ActiveRun& r) { Park(r, at); });
  return std::nullopt;
}

void LocalEngine::AppendThen(ActiveRun& run, std::vector<model::JournalEntry> entries,
                             std::optional<store::Transition> transition,
                             std::function<void(ActiveRun&)> then, store::AppendRequest extra) {
  store::AppendRequest req = std::move(extra);
  req.run_id = run.rec.id;
  req.lease_owner = run.rec.lease_owner;
  req.lease_epoch = run.rec.lease_epoch;
  // Usage columns change with model and tool calls and at transitions; a plain step does
  // not pay for the extra row update (replay recomputes usage from the journal anyway).
  bool usage_changed = transition.has_value();
  for (const auto& e : entries) {
    usage_changed |= e.kind == EntryKind::kLlm || e.kind == EntryKind::kTool ||
                     e.kind == EntryKind::kChildResult;
  }
  if (usage_changed) req.usage = UsageOf(run);
  req.entries = std::move(entries);
  req.transition = std::move(transition);
  std::string id = run.rec.id;
  uint64_t activation = run.activation;
  std::string lane = run.lane;
  store_.Append(std::move(req), [this, id, activation, lane, then = std::move(then)](Result<Ok> r) {
    executors_.PostFor(
        id, [this, id, activation, lane, then, ok = r.ok(), err = r.ok() ? Error{} : r.error()] {
          if (!ok) return OnWriteError(id, activation, err);
          ActiveRun* run = Find(id, activation);
          if (!run || run->finishing) return;
          watchers_.NotifyChange(id);
          run->lane = lane;
          then(*run);
        });
  });
}

bool LocalEngine::CheckDeadline(ActiveRun& run) {
  if (run.rec.deadline_at_ms == 0 || clock_.WallMs() < run.rec.deadline_at_ms) return false;
  FailRun(run, RunStatus::kTimedOut, "deadline_exceeded",
          "deadline_ms (" + std::to_string(run.rec.budget.deadline_ms) + ") passed");
  return true;
}

void LocalEngine::FailRun(ActiveRun& run, RunStatus status, const std::string& code,
                          const std::string& message, std::vector<model::JournalEntry> entries) {
  store::Transition t;
  t.status = status;
  t.error_code = code;
  t.error_message = message;
  Finish(run, std::move(t), std::move(entries));
}

void LocalEngine::Finish(ActiveRun& run, store::Transition t,
                         std::vector<model::JournalEntry> entries) {
  if (run.finishing) return;
  run.finishing = true;
  t.release_lease = true;
  model::RunRecord final_rec = run.rec;
  final_rec.status = t.status;
  final_rec.result_json = t.result_json;
  final_rec.error_code = t.error_code;
  final_rec.error_message = t.error_message;
  final_rec.steps_used = run.steps_used;
  final_rec.tools_used = run.tools_used;
  final_rec.tokens_used = run.tokens_used;
  final_rec.cost_usd = run.cost_usd;
  final_rec.lease_owner.clear();
  final_rec.updated_at_ms = clock_.WallMs();
  if (t.status == RunStatus::kFailed) {
    obs::Warn("run_failed", {{"run_id", run.rec.id},
                             {"tenant", run.rec.tenant},
                             {"intent", run.rec.intent},
                             {"code", t.error_code},
                             {"message", t.error_message}});
  }
  store::AppendRequest req;
  req.run_id = run.rec.id;
  req.lease_owner = run.rec.lease_owner;
  req.lease_epoch = run.rec.lease_epoch;
  req.entries = std::move(entries);
  req.transition = std::move(t);
  req.usage = UsageOf(run);
  std::string id = run.rec.id;
  uint64_t activation = run.activation;
  // Its descendants were cancelled in the same commit. It may have some if it started one, or
  // if it ended before replaying its whole journal (a child it never replayed to).
  bool may_have_children =
      run.has_children || run.cursor < run.journal.size() || !run.branch_journal.empty();
  store_.Append(std::move(req), [this, id, activation, may_have_children,
                                 final_rec = std::move(final_rec)](Result<Ok> r) {
    if (r) Terminal(final_rec);
    // Read on an executor, not on the store's writer thread that runs this callback.
    if (r && may_have_children) executors_.PostFor(id, [this, id] { StopDescendants(id); });
    executors_.PostFor(id, [this, id, activation, ok = r.ok(), err = r.ok() ? Error{} : r.error()] {
      if (!ok) return OnWriteError(id, activation, err);
      if (Find(id, activation)) Evict(id);
    });
  });
}

void LocalEngine::OnWriteError(const std::string& run_id, uint64_t activation, const Error& e) {
  if (!Find(run_id, activation)) return;
  Evict(run_id);
  switch (e.code) {
    case Errc::kAlreadyFinished:  // cancelled meanwhile
    case Errc::kNotFound:
      return;
    case Errc::kFenced:
      obs::Warn("run_fenced", {{"run_id", run_id}, {"error", e.message}});
      return;
    default:
      // The store failed (disk full, I/O): nothing after the last commit happened. Try again
      // later from the journal; the run keeps its place.
      metrics_->write_retries.Add();
      obs::Warn("run_write_failed", {{"run_id", run_id},
                                     {"code", ErrcName(e.code)},
                                     {"error", e.message},
                                     {"retry_in_ms", options_.storage_retry_ms}});
      if (!stopped_) ScheduleWake(run_id, clock_.WallMs() + options_.storage_retry_ms);
  }
}

}  // namespace keel::engine
