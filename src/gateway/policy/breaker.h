#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <boost/json.hpp>

#include "base/clock.h"
#include "gateway/config.h"
#include "observability/metrics.h"

namespace keel::gateway {

enum class BreakerState { kClosed, kOpen, kHalfOpen };
const char* BreakerStateName(BreakerState s);

// One circuit breaker (BreakerPolicy says how it moves). Every call that Allow() admitted must
// report back with RecordSuccess, RecordFailure or Release, or a half-open breaker waits for
// its probe until open_ms passes. Transitions are logged (`breaker_state`) and counted in
// keel_gateway_breaker_state{key} / keel_gateway_breaker_transitions_total{key,to}.
// Thread-safe.
class CircuitBreaker {
 public:
  CircuitBreaker(std::string key, BreakerPolicy policy, const Clock& clock, obs::Registry& metrics);

  // May a call go out now? Closed: yes. Open: no, until open_ms passed, then it turns
  // half-open and admits exactly one probe (further callers get no until the probe reports).
  bool Allow();
  void RecordSuccess();
  void RecordFailure();
  // The admitted call ended saying nothing about the endpoint's health (cancelled, or a 4xx
  // that is the request's own fault): a half-open breaker may send its next probe at once.
  void Release();
  BreakerState state() const;
  // When an open breaker will admit a probe (wall ms); for a half-open one whose probe is
  // out, when that probe is given up as lost; 0 when closed.
  int64_t RetryAtMs() const;
  boost::json::object ToJson() const;

 private:
  struct Transition {
    BreakerState from, to;
  };
  // Returns the transition for Report() to publish once the lock is released.
  Transition TransitionLocked(BreakerState to, int64_t now);
  void Report(Transition t);
  void TrimLocked(int64_t now);

  std::string key_;
  BreakerPolicy policy_;
  const Clock& clock_;
  obs::Registry& metrics_;
  mutable std::mutex mu_;
  BreakerState state_ = BreakerState::kClosed;
  std::deque<std::pair<int64_t, bool>> window_;  // (wall ms, failed)
  int64_t opened_at_ms_ = 0;
  bool probe_in_flight_ = false;
  // A probe whose caller never reported (a bug, or a process losing the call) must not keep
  // the breaker half-open for ever: after open_ms another probe goes out.
  int64_t probe_sent_at_ms_ = 0;
  obs::Gauge& state_gauge_;
};

// Breakers by key, created on first use. Thread-safe; references stay valid.
class BreakerSet {
 public:
  BreakerSet(const Clock& clock, obs::Registry& metrics) : clock_(clock), metrics_(metrics) {}
  CircuitBreaker& Get(const std::string& key, const BreakerPolicy& policy);
  boost::json::array ToJson() const;

 private:
  const Clock& clock_;
  obs::Registry& metrics_;
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<CircuitBreaker>> breakers_;
};

}  // namespace keel::gateway
