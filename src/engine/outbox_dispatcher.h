#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "base/clock.h"
#include "base/random.h"
#include "base/timer_queue.h"
#include "gateway/gateway.h"
#include "model/outbox.h"
#include "observability/metrics.h"
#include "store/store.h"

namespace keel::engine {

// Delivers pending outbox intents (docs/approvals.md#the-outbox): each due row is sent once
// at a time through the gateway with `Idempotency-Key: <key>`, and its outcome recorded with
// Store::UpdateOutbox:
//   ok                                              → delivered (result_json: the result)
//   invalid_arguments, unknown_tool, tool_error     → failed at once ({"code","message"})
//   anything else (tool_unavailable, deadline, ...) → pending again after a full-jitter
//       backoff (at least until the gateway's retry_at_ms), or failed once max_attempts
//       attempts were made.
// Delivery is at least once: a crash between the send and the record, or a failed record,
// sends the row again later with the same key. Nothing is lost: a row stays pending until
// an outcome is committed.
//
// Threads: one dispatcher thread reads due rows and starts the calls; outcomes are recorded
// from the gateway's threads, and `on_settled` runs on the store's writer thread once a row
// became delivered or failed (it must not block). Timers only wake the dispatcher thread.
//
// Metrics: keel_outbox_deliveries_total{outcome="delivered|retry|failed"},
// keel_outbox_in_flight.
class OutboxDispatcher {
 public:
  struct Options {
    int max_in_flight = 16;  // deliveries under way at once
    int64_t base_backoff_ms = 500;
    int64_t max_backoff_ms = 300'000;
    // Polls at least this often, so a row nobody announced with Kick (or whose outcome could
    // not be recorded) is still delivered.
    int64_t poll_ms = 1000;
    // How long Stop waits for the calls it cancelled to come back.
    int64_t stop_timeout_ms = 10'000;
    obs::Registry* metrics = nullptr;  // defaults to obs::Registry::Default()
  };
  using SettledFn = std::function<void(const model::OutboxIntent&)>;

  // Every reference must outlive Stop(). `timers` must be running while the dispatcher is.
  OutboxDispatcher(store::Store& store, gateway::Gateway& gateway, TimerQueue& timers,
                   const Clock& clock, Random& random, Options options, SettledFn on_settled);
  ~OutboxDispatcher();  // Stop()

  OutboxDispatcher(const OutboxDispatcher&) = delete;
  OutboxDispatcher& operator=(const OutboxDispatcher&) = delete;

  // Starts the dispatcher thread and polls at once (rows left by a previous process).
  void Start();
  // New intents were committed: poll soon. Cheap and coalesced; any thread.
  void Kick();
  // Starts no more deliveries, cancels those under way (they stay pending, their attempt not
  // counted, unless the tool already answered) and waits, at most stop_timeout_ms, for their
  // outcomes to be recorded. Idempotent. Call before stopping the gateway, the timers or the
  // store.
  void Stop();

 private:
  struct Core;
  std::shared_ptr<Core> core_;
};

}  // namespace keel::engine
