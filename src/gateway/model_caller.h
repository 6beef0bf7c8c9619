#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "base/clock.h"
#include "base/random.h"
#include "base/timer_queue.h"
#include "gateway/config.h"
#include "gateway/gateway.h"
#include "gateway/http/async_http.h"
#include "gateway/policy/breaker.h"
#include "gateway/providers/provider.h"
#include "observability/metrics.h"

namespace keel::gateway {

// The model half of the gateway: resolves a target to its chain, then for each model in turn
// asks its breaker, sends the request (streamed or not) with the provider's timeouts, retries
// retryable failures with BackoffMs on `timers`, and falls back to the next model. Charges
// nothing itself: the result carries usage and cost_usd for the engine to account.
//
// A streamed attempt forwards text to on_text as it arrives; when that attempt then fails and
// an Attempt with outcome retry or fallback is reported, the text starts over with the next
// attempt (the engine shows the restart from the Attempt event).
//
// `done` runs once, on the HTTP client's or the timer queue's thread, never on the caller's.
// The timer queue must be running. Destroy the HTTP client and stop the timer queue before
// this object: calls still waiting then end as cancelled.
//
// Breakers are keyed "<provider>/<model>". A 4xx (invalid_request) is the request's fault and
// counts against no breaker; a spend limit does. Neither is retried on the same model.
//
// Metrics: keel_gateway_model_calls_total{model,outcome} (one per Attempt),
// keel_gateway_retries_total{model}, keel_gateway_fallbacks_total{from,to},
// keel_gateway_call_seconds{model}. Logs: model_retry, model_fallback, model_call_failed.
class ModelCaller {
 public:
  ModelCaller(const GatewayConfig& config, AsyncHttpClient& http, BreakerSet& breakers,
              TimerQueue& timers, const Clock& clock, Random& random, obs::Registry& metrics);
  ~ModelCaller();

  void Call(ModelCallRequest req, std::function<void(ModelCallResult)> done);
  Result<std::vector<std::string>> ResolveTarget(const std::string& target) const;
  Price PriceOf(const std::string& model) const;

 private:
  struct CallState;
  enum class Failure { kRetryable, kMalformed, kPermanent, kSpendLimit };

  // Runs the next step on the timer thread at `at_ms`; `wake` tells a current wake-up from
  // one that a cancellation already replaced.
  void Schedule(const std::shared_ptr<CallState>& call, int64_t at_ms);
  void StartAttempt(std::shared_ptr<CallState> call, uint64_t wake);
  void OnAttemptDone(std::shared_ptr<CallState> call, HttpResult result);
  void OnFailure(const std::shared_ptr<CallState>& call, Failure kind, std::string error,
                 int http_status, int64_t latency_ms, int64_t retry_after_ms);
  // Leaves the current model: reports `outcome` (fallback, or failed for the last model).
  void LeaveModel(const std::shared_ptr<CallState>& call, Attempt attempt);
  // Counts and logs the move from the current model to the next, when there is one.
  void NoteFallback(const CallState& call, const std::string& error);
  void FinishExhausted(const std::shared_ptr<CallState>& call);
  void FinishError(const std::shared_ptr<CallState>& call, std::string code, std::string message);
  void Finish(const std::shared_ptr<CallState>& call);
  void Report(CallState& call, Attempt attempt);
  // Cancellation while waiting between attempts: wake the call now so it ends at once.
  void OnCancel(const std::shared_ptr<CallState>& call);

  const GatewayConfig& config_;
  AsyncHttpClient& http_;
  BreakerSet& breakers_;
  TimerQueue& timers_;
  const Clock& clock_;
  Random& random_;
  obs::Registry& metrics_;
  std::map<std::string, std::unique_ptr<ProviderAdapter>> adapters_;  // by provider name

  // Calls not yet finished, so the destructor can end them (done exactly once).
  std::mutex live_mu_;
  uint64_t next_call_id_ = 0;
  std::map<uint64_t, std::weak_ptr<CallState>> live_;
};

}  // namespace keel::gateway
