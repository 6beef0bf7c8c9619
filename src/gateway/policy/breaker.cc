#include "gateway/policy/breaker.h"

#include "observability/log.h"

namespace keel::gateway {

namespace json = boost::json;

namespace {

constexpr const char* kStateMetric = "keel_gateway_breaker_state";
constexpr const char* kStateHelp = "Circuit breaker state: 0 closed, 1 open, 2 half-open";
constexpr const char* kTransitionsMetric = "keel_gateway_breaker_transitions_total";
constexpr const char* kTransitionsHelp = "Circuit breaker state changes";

std::string KeyLabel(const std::string& key) { return "key=\"" + key + "\""; }

int64_t StateValue(BreakerState s) {
  switch (s) {
    case BreakerState::kClosed:
      return 0;
    case BreakerState::kOpen:
      return 1;
    case BreakerState::kHalfOpen:
      return 2;
  }
  return 0;
}

}  // namespace

const char* BreakerStateName(BreakerState s) {
  switch (s) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half_open";
  }
  return "closed";
}

CircuitBreaker::CircuitBreaker(std::string key, BreakerPolicy policy, const Clock& clock,
                               obs::Registry& metrics)
    : key_(std::move(key)),
      policy_(policy),
      clock_(clock),
      metrics_(metrics),
      state_gauge_(metrics.GetGauge(kStateMetric, kStateHelp, KeyLabel(key_))) {
  state_gauge_.Set(0);
}

bool CircuitBreaker::Allow() {
  Transition t{BreakerState::kClosed, BreakerState::kClosed};
  bool allowed = false;
  {
    std::lock_guard lock(mu_);
    int64_t now = clock_.WallMs();
    switch (state_) {
      case BreakerState::kClosed:
        allowed = true;
        break;
      case BreakerState::kOpen:
        if (now >= opened_at_ms_ + policy_.open_ms) {
          t = TransitionLocked(BreakerState::kHalfOpen, now);
          allowed = true;
        }
        break;
      case BreakerState::kHalfOpen:
        allowed = !probe_in_flight_ || now >= probe_sent_at_ms_ + policy_.open_ms;
        break;
    }
    if (allowed && state_ == BreakerState::kHalfOpen) {
      probe_in_flight_ = true;
      probe_sent_at_ms_ = now;
    }
  }
  Report(t);
  return allowed;
}

void CircuitBreaker::RecordSuccess() {
  Transition t{BreakerState::kClosed, BreakerState::kClosed};
  {
    std::lock_guard lock(mu_);
    int64_t now = clock_.WallMs();
    TrimLocked(now);
    if (state_ == BreakerState::kHalfOpen) {
      // The failures that opened the breaker describe an endpoint that has since recovered.
      window_.clear();
      t = TransitionLocked(BreakerState::kClosed, now);
    }
    window_.emplace_back(now, false);
  }
  Report(t);
}

void CircuitBreaker::RecordFailure() {
  Transition t{BreakerState::kClosed, BreakerState::kClosed};
  {
    std::lock_guard lock(mu_);
    int64_t now = clock_.WallMs();
    TrimLocked(now);
    window_.emplace_back(now, true);
    if (state_ == BreakerState::kHalfOpen) {
      t = TransitionLocked(BreakerState::kOpen, now);
    } else if (state_ == BreakerState::kClosed) {
      int requests = static_cast<int>(window_.size());
      int failures = 0;
      for (const auto& [at, failed] : window_) failures += failed ? 1 : 0;
      if (requests >= policy_.min_requests &&
          static_cast<double>(failures) >= policy_.failure_rate * requests) {
        t = TransitionLocked(BreakerState::kOpen, now);
      }
    }
  }
  Report(t);
}

void CircuitBreaker::Release() {
  std::lock_guard lock(mu_);
  if (state_ == BreakerState::kHalfOpen) probe_in_flight_ = false;
}

BreakerState CircuitBreaker::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

int64_t CircuitBreaker::RetryAtMs() const {
  std::lock_guard lock(mu_);
  switch (state_) {
    case BreakerState::kClosed:
      return 0;
    case BreakerState::kOpen:
      return opened_at_ms_ + policy_.open_ms;
    case BreakerState::kHalfOpen:
      return probe_in_flight_ ? probe_sent_at_ms_ + policy_.open_ms : clock_.WallMs();
  }
  return 0;
}

json::object CircuitBreaker::ToJson() const {
  std::lock_guard lock(mu_);
  int64_t now = clock_.WallMs();
  int64_t requests = 0, failures = 0;
  for (const auto& [at, failed] : window_) {
    if (at <= now - policy_.window_ms) continue;
    ++requests;
    failures += failed ? 1 : 0;
  }
  int64_t retry_at = 0;
  if (state_ == BreakerState::kOpen) retry_at = opened_at_ms_ + policy_.open_ms;
  if (state_ == BreakerState::kHalfOpen && probe_in_flight_) {
    retry_at = probe_sent_at_ms_ + policy_.open_ms;
  }
  return json::object{{"key", key_},
                      {"state", BreakerStateName(state_)},
                      {"requests", requests},
                      {"failures", failures},
                      {"opened_at_ms", state_ == BreakerState::kClosed ? 0 : opened_at_ms_},
                      {"retry_at_ms", retry_at}};
}

CircuitBreaker::Transition CircuitBreaker::TransitionLocked(BreakerState to, int64_t now) {
  Transition t{state_, to};
  state_ = to;
  if (to == BreakerState::kOpen) opened_at_ms_ = now;
  if (to != BreakerState::kHalfOpen) probe_in_flight_ = false;
  // The gauge is lock-free and must change in the same order as the state, so it is set here.
  state_gauge_.Set(StateValue(to));
  return t;
}

void CircuitBreaker::Report(Transition t) {
  if (t.from == t.to) return;
  metrics_
      .GetCounter(kTransitionsMetric, kTransitionsHelp,
                  KeyLabel(key_) + ",to=\"" + BreakerStateName(t.to) + "\"")
      .Add();
  auto fields = json::object{
      {"key", key_}, {"from", BreakerStateName(t.from)}, {"to", BreakerStateName(t.to)}};
  if (t.to == BreakerState::kOpen) {
    obs::Warn("breaker_state", std::move(fields));
  } else {
    obs::Info("breaker_state", std::move(fields));
  }
}

void CircuitBreaker::TrimLocked(int64_t now) {
  while (!window_.empty() && window_.front().first <= now - policy_.window_ms) window_.pop_front();
}

CircuitBreaker& BreakerSet::Get(const std::string& key, const BreakerPolicy& policy) {
  std::lock_guard lock(mu_);
  auto& slot = breakers_[key];
  if (!slot) slot = std::make_unique<CircuitBreaker>(key, policy, clock_, metrics_);
  return *slot;
}

json::array BreakerSet::ToJson() const {
  std::lock_guard lock(mu_);
  json::array out;
  for (const auto& [key, breaker] : breakers_) out.push_back(breaker->ToJson());
  return out;
}

}  // namespace keel::gateway
