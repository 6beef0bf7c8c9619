#include "engine/local_engine.h"

#include <future>
#include <thread>

#include "base/hash.h"
#include "engine/active_run.h"
#include "observability/log.h"

namespace keel::engine {

LocalEngine::LocalEngine(EngineOptions options, store::Store& store, WorkflowRegistry& registry,
                         const Clock& clock, Random& random, obs::Registry& metrics)
    : options_(std::move(options)),
      store_(store),
      registry_(registry),
      clock_(clock),
      random_(random),
      metrics_(std::make_unique<Metrics>(metrics)),
      executors_(options_.executor_threads),
      timers_(clock),
      shards_(executors_.size()) {
  if (options_.node_id.empty()) options_.node_id = Hex64(random_.Next());
}

LocalEngine::~LocalEngine() {
  stopped_ = true;
  if (outbox_) outbox_->Stop();
  timers_.Stop();
  executors_.Stop();
}

Status LocalEngine::Start() {
  int64_t now = clock_.WallMs();
  auto runs = store_.TakeOverRuns(options_.node_id, now + options_.lease_ttl_ms,
                                  options_.exclusive_store, now);
  if (!runs) return runs.error();
  auto timers = store_.WaitingTimers();
  if (!timers) return timers.error();
  auto approvals = store_.ApprovalDeadlines();
  if (!approvals) return approvals.error();
  executors_.Start();
  timers_.Start();
  if (options_.gateway) {
    OutboxDispatcher::Options outbox = options_.outbox;
    if (!outbox.metrics) outbox.metrics = &metrics_->registry;
    outbox_ = std::make_unique<OutboxDispatcher>(
        store_, *options_.gateway, timers_, clock_, random_, outbox,
        [this](const model::OutboxIntent& row) { OnOutboxSettled(row); });
    outbox_->Start();
  }
  for (auto& rec : *runs) {
    PostActivate(std::move(rec), /*fresh=*/false);
  }
  for (const auto& [id, at] : *timers) ScheduleWake(id, at);
  // A deadline that passed while no node ran is applied now, exactly once (the store checks).
  for (const auto& [id, at] : *approvals) ScheduleApprovalExpiry(id, at);
  obs::Info("engine_started", {{"node", options_.node_id},
                               {"recovered_runs", runs->size()},
                               {"parked_timers", timers->size()},
                               {"executors", executors_.size()}});
  Heartbeat();
  return OkStatus();
}

void LocalEngine::PostActivate(model::RunRecord rec, bool fresh) {
  // The id is copied first: in PostFor(rec.id, [rec = std::move(rec)] ...) the capture may
  // move `rec` before PostFor reads the id, sending the run to the wrong executor.
  std::string id = rec.id;
  executors_.PostFor(
      id, [this, rec = std::move(rec), fresh]() mutable { Activate(std::move(rec), fresh); });
}

void LocalEngine::Heartbeat() {
  if (stopped_) return;
  int64_t now = clock_.WallMs();
  store_.Heartbeat(options_.node_id, now + options_.lease_ttl_ms, [](Result<Ok> r) {
    if (!r) obs::Warn("lease_heartbeat_failed", {{"error", r.error().message}});
  });
  timers_.At(now + options_.lease_ttl_ms / 3, [this] { Heartbeat(); });
}

int64_t LocalEngine::Drain(int64_t timeout_ms) {
  draining_ = true;
  int64_t deadline = clock_.MonoUs() + timeout_ms * 1000;
  while (resident_ > 0 && clock_.MonoUs() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  int64_t left = resident_;
  stopped_ = true;
  if (outbox_) outbox_->Stop();  // before the timers it schedules on
  timers_.Stop();
  executors_.Stop();
  std::promise<void> released;
  store_.ReleaseAll(options_.node_id, [&](Result<Ok> r) {
    if (!r) obs::Warn("lease_release_failed", {{"error", r.error().message}});
    released.set_value();
  });
  released.get_future().wait();
  obs::Info("engine_drained", {{"left_resident", left}});
  return left;
}

Result<store::AdmitRequest> LocalEngine::NewRun(const model::Envelope& env, int64_t now) {
  auto code = registry_.Current(env.intent);
  if (!code) return code.error();
  store::AdmitRequest req;
  model::RunRecord& r = req.run;
  r.id = env.run_id.empty() ? random_.UuidV7(now) : env.run_id;
  r.intent = env.intent;
  r.tenant = env.tenant;
  r.user = env.user;
  r.idempotency_key = env.idempotency_key;
  r.correlation_id = env.correlation_id;
  r.payload_json = env.payload_json;
  r.budget = env.budget;
  if (auto agent = options_.agents.find(env.intent); agent != options_.agents.end()) {
    // Fields the caller left open take the agent's defaults (DESIGN.md, "limits at the door").
    const model::Budget& d = agent->second.budget;
    if (!r.budget.deadline_ms) r.budget.deadline_ms = d.deadline_ms;
    if (!r.budget.max_steps) r.budget.max_steps = d.max_steps;
    if (!r.budget.max_tools) r.budget.max_tools = d.max_tools;
    if (!r.budget.max_tokens) r.budget.max_tokens = d.max_tokens;
    if (!r.budget.max_context) r.budget.max_context = d.max_context;
    if (r.budget.max_cost_usd <= 0) r.budget.max_cost_usd = d.max_cost_usd;
  }
  r.code_hash = (*code)->code_hash;
  r.status = model::RunStatus::kRunning;
  r.deadline_at_ms = r.budget.deadline_ms ? now + r.budget.deadline_ms : 0;
  r.lease_owner = options_.node_id;
  r.lease_epoch = 1;
  r.lease_expires_at_ms = now + options_.lease_ttl_ms;
  r.created_at_ms = now;
  r.updated_at_ms = now;
  req.payload_hash = Hex64(Fnv1a64(env.intent + "\n" + env.payload_json));
  return req;
}

void LocalEngine::Submit(model::Envelope env, store::Callback<SubmitOutcome> done) {
  if (draining_) {
    return done(Error{Errc::kUnavailable, "the server is shutting down; retry shortly"});
  }
  auto req = NewRun(env, clock_.WallMs());
  if (!req) return done(req.error());
  store_.Admit(std::move(*req), [this, done = std::move(done)](Result<store::AdmitOutcome> res) {
    if (!res) return done(res.error());
    bool fresh = !res->existing;
    model::RunRecord rec = res->run;
    // The caller hears first, so a watch it registers now cannot miss the run's end.
    done(SubmitOutcome{std::move(res->run), res->existing});
    if (!fresh) return;
    metrics_->Started(rec.intent).Add();
    PostActivate(std::move(rec), /*fresh=*/true);
  });
}

void LocalEngine::Cancel(const std::string& run_id, bool compensate,
                         store::Callback<model::RunRecord> done) {
  if (compensate) {
    // The run itself ends, after its undo steps: a resident run hears at its next action, a
    // parked one is woken for it.
    store_.RequestCancel(run_id,
                         [this, run_id, done = std::move(done)](Result<model::RunRecord> r) {
                           if (!r) return done(r.error());
                           executors_.PostFor(run_id, [this, run_id] {
                             auto& shard = shards_[executors_.ThreadFor(run_id)];
                             if (auto it = shard.find(run_id); it != shard.end()) {
                               it->second->cancel_requested = true;
                             } else {
                               WakeOnExecutor(run_id);
                             }
                           });
                           // Children first undo their own work, so that a parent waiting
                           // for one of them gets to its undo steps too.
                           if (auto children = store_.ListChildren(run_id); children) {
                             for (const auto& c : *children) {
                               if (!model::IsTerminal(c.status))
                                 Cancel(c.id, true, [](Result<model::RunRecord>) {});
                             }
                           }
                           done(std::move(*r));
                         });
    return;
  }
  store::Transition t;
  t.status = model::RunStatus::kCancelled;
  t.error_code = "cancelled";
  t.error_message = "cancelled by request";
  store_.Finish(run_id, t, [this, run_id, done = std::move(done)](Result<model::RunRecord> r) {
    if (!r) return done(r.error());
    Terminal(*r);
    // Stop the resident Lua state at once (even inside a long computation) and drop it; its
    // in-flight writes fail as already finished.
    InterruptVm(run_id);
    executors_.PostFor(run_id, [this, run_id] {
      Evict(run_id);
      StopDescendants(run_id);  // cancelled in the same commit
    });
    done(std::move(*r));
  });
}

void LocalEngine::Interrupt(const std::string& run_id, std::string input_json,
                            store::Callback<Ok> done) {
  store_.DeliverSignal(run_id, "$interrupt", std::move(input_json),
                       [this, run_id, done = std::move(done)](Result<store::DeliverOutcome> r) {
                         if (!r) return done(r.error());
                         watchers_.NotifyChange(run_id);
                         done(Ok{});
                       });
}

void LocalEngine::Signal(const std::string& run_id, const std::string& name,
                         std::string payload_json, store::Callback<Ok> done) {
  store_.DeliverSignal(run_id, name, std::move(payload_json),
                       [this, run_id, done = std::move(done)](Result<store::DeliverOutcome> r) {
                         if (!r) return done(r.error());
                         if (r->woke) Wake(run_id);
                         done(Ok{});
                       });
}

Engine::WatchId LocalEngine::OnTerminal(const std::string& run_id, bool check_now,
                                        std::function<void(const model::RunRecord&)> cb) {
  WatchId id = watchers_.AddTerminal(run_id, std::move(cb));
  if (check_now) {
    auto r = store_.GetRun(run_id);
    if (r && model::IsTerminal(r->status)) watchers_.FireTerminal(id, *r);
  }
  return id;
}

Engine::WatchId LocalEngine::OnChange(const std::string& run_id, std::function<void()> cb) {
  return watchers_.AddChange(run_id, std::move(cb));
}

Engine::WatchId LocalEngine::OnLive(
    const std::string& run_id, std::function<void(const std::string&, const std::string&)> cb) {
  return watchers_.AddLive(run_id, std::move(cb));
}

void LocalEngine::Unwatch(WatchId id) { watchers_.Remove(id); }

void LocalEngine::DecideApproval(store::ApprovalDecision d,
                                 store::Callback<store::ApprovalOutcome> done) {
  d.now_ms = clock_.WallMs();
  d.timed_out = false;
  store_.DecideApproval(std::move(d),
                        [this, done = std::move(done)](Result<store::ApprovalOutcome> r) {
                          if (r && !r->existing) {
                            obs::Info("approval_decided", {{"approval_id", r->approval.id},
                                                           {"run_id", r->approval.run_id},
                                                           {"decision", r->approval.status},
                                                           {"by", r->approval.decided_by}});
                          }
                          if (r && r->woke) Wake(r->approval.run_id);
                          done(std::move(r));
                        });
}

Result<model::Approval> LocalEngine::GetApproval(const std::string& id) {
  return store_.GetApproval(id);
}

Result<std::vector<model::Approval>> LocalEngine::ListApprovals(const store::ApprovalFilter& f) {
  return store_.ListApprovals(f);
}

Result<std::vector<model::ApprovalEvent>> LocalEngine::ApprovalAudit(const std::string& id) {
  return store_.ApprovalAudit(id);
}

Result<std::vector<model::OutboxIntent>> LocalEngine::ListOutbox(const store::OutboxFilter& f) {
  return store_.ListOutbox(f);
}

boost::json::object LocalEngine::GatewayStatus() const {
  if (!options_.gateway) return {};
  return {{"breakers", options_.gateway->BreakerStates()}};
}

Result<model::RunRecord> LocalEngine::GetRun(const std::string& run_id) {
  return store_.GetRun(run_id);
}

Result<std::vector<model::RunRecord>> LocalEngine::ListRuns(const store::RunFilter& filter) {
  return store_.ListRuns(filter);
}

Result<std::vector<model::JournalEntry>> LocalEngine::ReadJournal(const std::string& run_id,
                                                                  int64_t after_seq, int limit) {
  return store_.ReadJournal(run_id, after_seq, limit);
}

EngineState LocalEngine::State() const {
  EngineState s;
  s.draining = draining_;
  s.active_runs = resident_;
  s.queued_runs = static_cast<int64_t>(executors_.QueueDepth());
  s.intents = registry_.Intents();
  return s;
}

void LocalEngine::Terminal(const model::RunRecord& rec) {
  metrics_->Finished(rec.intent, rec.status).Add();
  obs::Info("run_finished", {{"run_id", rec.id},
                             {"tenant", rec.tenant},
                             {"intent", rec.intent},
                             {"status", model::StatusName(rec.status)},
                             {"steps", rec.steps_used},
                             {"correlation_id", rec.correlation_id}});
  watchers_.NotifyTerminal(rec);
}

void LocalEngine::ScheduleWake(const std::string& run_id, int64_t at_ms) {
  timers_.At(at_ms, [this, run_id] { Wake(run_id); });
}

void LocalEngine::Wake(const std::string& run_id) {
  if (stopped_) return;
  executors_.PostFor(run_id, [this, run_id] { WakeOnExecutor(run_id); });
}

void LocalEngine::WakeOnExecutor(const std::string& run_id) {
  if (draining_ || stopped_) return;  // a parked run stays parked; the next node wakes it
  auto& shard = shards_[executors_.ThreadFor(run_id)];
  if (shard.count(run_id)) return;  // already resident or being acquired
  auto placeholder = std::make_unique<ActiveRun>();
  placeholder->acquiring = true;
  placeholder->activation = next_activation_++;
  uint64_t activation = placeholder->activation;
  shard[run_id] = std::move(placeholder);
  resident_++;
  metrics_->resident_runs.Set(resident_);
  metrics_->wakeups.Add();
  int64_t now = clock_.WallMs();
  store_.Acquire(run_id, options_.node_id, now + options_.lease_ttl_ms,
                 [this, run_id, activation](Result<store::AcquireOutcome> r) {
                   executors_.PostFor(run_id,
                                      [this, run_id, activation, r = std::move(r)]() mutable {
                                        ActiveRun* run = Find(run_id, activation);
                                        if (!run) return;
                                        if (!r) {
                                          OnWriteError(run_id, activation, r.error());
                                          return;
                                        }
                                        Activate(std::move(r->run), /*fresh=*/false);
                                      });
                 });
}

}  // namespace keel::engine
