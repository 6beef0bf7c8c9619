#include "engine/outbox_dispatcher.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <boost/json.hpp>

#include "base/failpoint.h"
#include "base/hash.h"
#include "engine/action_util.h"
#include "observability/log.h"

namespace keel::engine {

namespace json = boost::json;

namespace {

constexpr const char* kDeliveriesMetric = "keel_outbox_deliveries_total";
constexpr const char* kDeliveriesHelp =
    "Outbox delivery attempts by recorded outcome (delivered, retry, failed)";

// Errors that another attempt cannot fix: the request itself is wrong, or the tool said no.
bool Permanent(const std::string& code) {
  return code == "invalid_arguments" || code == "unknown_tool" || code == "tool_error";
}

// W3C trace context: the trace is the intent's run (as for the run's inline calls), the span
// the intent, so every attempt of one delivery shows up as the same operation.
std::string TraceParent(const model::OutboxIntent& row) {
  return detail::TraceParent(row.run_id.empty() ? row.key : row.run_id, "outbox:" + row.key);
}

}  // namespace

struct OutboxDispatcher::Core : std::enable_shared_from_this<Core> {
  Core(store::Store& s, gateway::Gateway& g, TimerQueue& t, const Clock& c, Random& r, Options o,
       SettledFn settled)
      : store(s),
        gateway(g),
        timers(t),
        clock(c),
        random(r),
        options(o),
        on_settled(std::move(settled)),
        metrics(o.metrics ? *o.metrics : obs::Registry::Default()),
        in_flight_gauge(
            metrics.GetGauge("keel_outbox_in_flight", "Outbox deliveries under way on this node")) {
    options.max_in_flight = std::max(1, options.max_in_flight);
    options.poll_ms = std::max<int64_t>(1, options.poll_ms);
    options.base_backoff_ms = std::max<int64_t>(0, options.base_backoff_ms);
    options.max_backoff_ms = std::max(options.base_backoff_ms, options.max_backoff_ms);
  }

  // Only when Stop ran on the dispatcher thread itself (and so could not join it) is the
  // thread still joinable here, and then this runs on that thread as it ends.
  ~Core() {
    if (thread.joinable()) thread.detach();
  }

  store::Store& store;
  gateway::Gateway& gateway;
  TimerQueue& timers;
  const Clock& clock;
  Random& random;
  Options options;
  SettledFn on_settled;
  obs::Registry& metrics;
  obs::Gauge& in_flight_gauge;

  std::mutex mu;
  std::condition_variable wake;  // the dispatcher thread: kicked or stopping
  std::condition_variable idle;  // Stop: in_flight emptied
  bool started = false;
  bool kicked = false;
  bool stopping = false;
  // Stop gave up waiting: outcomes that still come back are not recorded, since the store
  // may be gone by then (the rows stay pending and are sent again after a restart).
  bool abandoned = false;
  int64_t armed_at = 0;  // the earliest timer set and not yet fired; 0: none
  std::map<std::string, std::shared_ptr<gateway::CancelToken>> in_flight;  // by key
  // Keys whose outcome was recorded since the current poll began: its read may predate the
  // record and show them pending still. A read that starts after a record sees it, so the
  // set is emptied as each poll begins.
  std::set<std::string> released_since_poll;
  std::thread thread;

  void Loop() {
    std::unique_lock lock(mu);
    while (true) {
      wake.wait(lock, [this] { return kicked || stopping; });
      if (stopping) return;
      kicked = false;
      lock.unlock();
      Poll();
      lock.lock();
    }
  }

  void Kick() {
    {
      std::lock_guard lock(mu);
      if (stopping || kicked) return;
      kicked = true;
    }
    wake.notify_one();
  }

  void Poll() {
    const int64_t now = clock.WallMs();
    size_t busy;
    {
      std::lock_guard lock(mu);
      busy = in_flight.size();
      released_since_poll.clear();
    }
    const auto max = static_cast<size_t>(options.max_in_flight);
    if (busy < max) {
      // Rows under way are still pending and due, so they come back too: ask for enough to
      // fill every free slot after skipping them.
      auto due = store.DueOutbox(now, static_cast<int>(max + busy));
      if (!due) {
        obs::Warn("outbox_poll_failed", {{"error", due.error().message}});
      } else {
        for (model::OutboxIntent& row : *due) {
          auto token = std::make_shared<gateway::CancelToken>();
          {
            std::lock_guard lock(mu);
            if (stopping || in_flight.size() >= max) break;
            if (released_since_poll.count(row.key)) continue;
            if (!in_flight.emplace(row.key, token).second) continue;
            in_flight_gauge.Set(static_cast<int64_t>(in_flight.size()));
          }
          Send(std::move(row), std::move(token));
        }
      }
    }
    Arm(now);
  }

  // Wakes the thread for the earliest pending attempt, and at least every poll_ms.
  void Arm(int64_t now) {
    int64_t at = now + options.poll_ms;
    auto next = store.NextOutboxAttempt();
    if (!next) {
      obs::Warn("outbox_poll_failed", {{"error", next.error().message}});
    } else if (*next > now && *next < at) {
      // A row due already (*next <= now) is under way or waits for a free slot: its
      // outcome's Kick polls again.
      at = *next;
    }
    {
      std::lock_guard lock(mu);
      if (stopping || (armed_at != 0 && armed_at <= at)) return;
      armed_at = at;
    }
    timers.At(at, [weak = weak_from_this(), at] {
      auto self = weak.lock();
      if (!self) return;
      {
        std::lock_guard lock(self->mu);
        if (self->armed_at == at) self->armed_at = 0;
      }
      self->Kick();
    });
  }

  void Send(model::OutboxIntent row, std::shared_ptr<gateway::CancelToken> token) {
    gateway::ToolCallRequest req;
    req.run_id = row.run_id;
    req.tenant = row.tenant;
    req.seq = row.seq;
    req.idempotency_key = row.key;
    req.name = row.target;
    req.args_json = row.args_json;
    req.traceparent = TraceParent(row);
    req.cancel = std::move(token);
    gateway.CallTool(std::move(req),
                     [self = shared_from_this(), row = std::move(row)](gateway::ToolCallResult r) {
                       self->OnResult(row, std::move(r));
                     });
  }

  void OnResult(const model::OutboxIntent& row, gateway::ToolCallResult r) {
    // The request went out and its outcome is not recorded yet: a crash here must lead to
    // the same key being sent again.
    Failpoint("outbox.after_send");
    {
      std::lock_guard lock(mu);
      if (abandoned) return;
      // Stop cut the call short: it proves nothing about the tool, so it is not an attempt.
      if (stopping && !r.ok && r.error_code == "cancelled") {
        ReleaseLocked(row.key);
        return;
      }
    }
    const int64_t now = clock.WallMs();
    store::OutboxUpdate u;
    u.key = row.key;
    u.attempts = row.attempts + 1;
    u.now_ms = now;
    if (r.ok) {
      u.status = "delivered";
      u.result_json = r.result_json.empty() ? "null" : std::move(r.result_json);
    } else {
      u.last_error = r.error_code + ": " + r.message;
      if (Permanent(r.error_code) || u.attempts >= row.max_attempts) {
        u.status = "failed";
        u.result_json =
            json::serialize(json::object{{"code", r.error_code}, {"message", r.message}});
      } else {
        u.status = "pending";
        u.next_attempt_at_ms = now + BackoffMs(u.attempts, r.retry_at_ms - now);
      }
    }
    std::string status = u.status;
    std::string error = u.last_error;
    int64_t next_at = u.next_attempt_at_ms;
    store.UpdateOutbox(std::move(u), [self = shared_from_this(), row, status, error,
                                      next_at](Result<model::OutboxIntent> res) {
      self->OnRecorded(row, status, error, next_at, std::move(res));
    });
  }

  // Full jitter over base * 2^(attempts-1), capped, and never before the gateway's retry time.
  int64_t BackoffMs(int attempts, int64_t retry_after_ms) {
    int64_t ceiling = options.base_backoff_ms;
    for (int n = 1; n < attempts && ceiling < options.max_backoff_ms; ++n) ceiling *= 2;
    ceiling = std::min(ceiling, options.max_backoff_ms);
    auto wait = static_cast<int64_t>(random.NextDouble() * static_cast<double>(ceiling + 1));
    return std::max({wait, retry_after_ms, int64_t{0}});
  }

  void OnRecorded(const model::OutboxIntent& row, const std::string& status,
                  const std::string& error, int64_t next_at, Result<model::OutboxIntent> res) {
    {
      std::lock_guard lock(mu);
      if (abandoned) return;  // whoever on_settled would tell may be gone
    }
    if (!res) {
      // The row is still pending as it was: the next poll (within poll_ms) sends it again.
      obs::Warn("outbox_record_failed", {{"key", row.key},
                                         {"target", row.target},
                                         {"outcome", status},
                                         {"error", res.error().message}});
      Release(row.key, /*kick=*/false);
      return;
    }
    const model::OutboxIntent& now_row = *res;
    json::object fields{{"key", row.key},
                        {"kind", row.kind},
                        {"target", row.target},
                        {"attempts", now_row.attempts},
                        {"max_attempts", now_row.max_attempts}};
    if (status == "delivered") {
      Count("delivered");
      obs::Info("outbox_delivered", std::move(fields));
    } else if (status == "failed") {
      Count("failed");
      fields["error"] = error;
      obs::Warn("outbox_failed", std::move(fields));
    } else {
      Count("retry");
      fields["error"] = error;
      fields["next_attempt_at"] = FormatUtcMs(next_at);
      obs::Warn("outbox_retry", std::move(fields));
    }
    if (now_row.status == "delivered" || now_row.status == "failed") {
      if (on_settled) on_settled(now_row);
    }
    Release(row.key, /*kick=*/true);
  }

  void Count(const char* outcome) {
    metrics
        .GetCounter(kDeliveriesMetric, kDeliveriesHelp, std::string("outcome=\"") + outcome + "\"")
        .Add();
  }

  void ReleaseLocked(const std::string& key) {
    in_flight.erase(key);
    released_since_poll.insert(key);
    in_flight_gauge.Set(static_cast<int64_t>(in_flight.size()));
    if (in_flight.empty()) idle.notify_all();
  }

  void Release(const std::string& key, bool kick) {
    {
      std::lock_guard lock(mu);
      ReleaseLocked(key);
    }
    // A slot is free, and more rows may be due.
    if (kick) Kick();
  }
};

OutboxDispatcher::OutboxDispatcher(store::Store& store, gateway::Gateway& gateway,
                                   TimerQueue& timers, const Clock& clock, Random& random,
                                   Options options, SettledFn on_settled)
    : core_(std::make_shared<Core>(store, gateway, timers, clock, random, options,
                                   std::move(on_settled))) {}

OutboxDispatcher::~OutboxDispatcher() { Stop(); }

void OutboxDispatcher::Start() {
  Core& c = *core_;
  {
    std::lock_guard lock(c.mu);
    if (c.started || c.stopping) return;
    c.started = true;
    c.kicked = true;  // rows a previous process left pending
  }
  c.thread = std::thread([core = core_] { core->Loop(); });
}

void OutboxDispatcher::Kick() { core_->Kick(); }

void OutboxDispatcher::Stop() {
  Core& c = *core_;
  std::vector<std::shared_ptr<gateway::CancelToken>> tokens;
  {
    std::lock_guard lock(c.mu);
    c.stopping = true;
    for (const auto& [key, token] : c.in_flight) tokens.push_back(token);
  }
  c.wake.notify_all();
  for (const auto& t : tokens) t->Cancel();
  if (c.thread.joinable() && c.thread.get_id() != std::this_thread::get_id()) c.thread.join();
  std::unique_lock lock(c.mu);
  // The bound is real time: Stop runs at shutdown, where a fake clock may stand still.
  bool idle = c.idle.wait_for(lock, std::chrono::milliseconds(c.options.stop_timeout_ms),
                              [&] { return c.in_flight.empty(); });
  if (!idle && !c.abandoned) {
    c.abandoned = true;
    obs::Warn("outbox_stop_timeout",
              {{"in_flight", c.in_flight.size()}, {"waited_ms", c.options.stop_timeout_ms}});
  }
}

}  // namespace keel::engine
