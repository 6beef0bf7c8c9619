#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "base/clock.h"
#include "base/random.h"
#include "gateway/policy/breaker.h"
#include "gateway/policy/retry.h"
#include "observability/metrics.h"

namespace keel::gateway {
namespace {

TEST(Backoff, StaysWithinTheExponentialCeilingAndGrows) {
  RetryPolicy p{.max_attempts = 10, .base_backoff_ms = 100, .max_backoff_ms = 100'000};
  Random random(42);
  for (int next = 2; next <= 6; ++next) {
    int64_t ceiling = 100LL << (next - 2);
    EXPECT_EQ(BackoffCeilingMs(p, next), ceiling);
    int64_t max_seen = 0;
    for (int i = 0; i < 500; ++i) {
      int64_t b = BackoffMs(p, next, 0, random);
      ASSERT_GE(b, 0);
      ASSERT_LE(b, ceiling) << "next_attempt " << next;
      max_seen = std::max(max_seen, b);
    }
    // Full jitter spreads over the whole range, so the largest of 500 draws is near the top
    // and above the previous attempt's ceiling: the waits really grow.
    EXPECT_GT(max_seen, ceiling * 3 / 4) << "next_attempt " << next;
  }
}

TEST(Backoff, JitterIsSpreadNotConstant) {
  RetryPolicy p{.max_attempts = 3, .base_backoff_ms = 1000, .max_backoff_ms = 10'000};
  Random random(7);
  int64_t lo = 1'000'000, hi = -1;
  for (int i = 0; i < 200; ++i) {
    int64_t b = BackoffMs(p, 2, 0, random);
    lo = std::min(lo, b);
    hi = std::max(hi, b);
  }
  EXPECT_LT(lo, 250);
  EXPECT_GT(hi, 750);
}

TEST(Backoff, IsCappedAtMaxBackoff) {
  RetryPolicy p{.max_attempts = 100, .base_backoff_ms = 200, .max_backoff_ms = 1000};
  Random random(1);
  EXPECT_EQ(BackoffCeilingMs(p, 2), 200);
  EXPECT_EQ(BackoffCeilingMs(p, 4), 800);
  EXPECT_EQ(BackoffCeilingMs(p, 5), 1000);
  EXPECT_EQ(BackoffCeilingMs(p, 80), 1000);  // no overflow however many attempts
  for (int i = 0; i < 500; ++i) ASSERT_LE(BackoffMs(p, 60, 0, random), 1000);
}

TEST(Backoff, RetryAfterIsAMinimum) {
  RetryPolicy p{.max_attempts = 3, .base_backoff_ms = 100, .max_backoff_ms = 1000};
  Random random(3);
  for (int i = 0; i < 200; ++i) {
    // Longer than the ceiling: exactly the Retry-After.
    ASSERT_EQ(BackoffMs(p, 2, 5000, random), 5000);
    // Shorter than the ceiling: never below it.
    ASSERT_GE(BackoffMs(p, 3, 150, random), 150);
  }
}

TEST(RetryAfter, ParsesSecondsFractionsAndDates) {
  const int64_t now = 784'111'777'000;  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(ParseRetryAfterMs("2", now), 2000);
  EXPECT_EQ(ParseRetryAfterMs("0.5", now), 500);
  EXPECT_EQ(ParseRetryAfterMs(" 0 ", now), 0);
  EXPECT_EQ(ParseRetryAfterMs("Sun, 06 Nov 1994 08:49:37 GMT", now), 0);
  EXPECT_EQ(ParseRetryAfterMs("Sun, 06 Nov 1994 08:49:47 GMT", now), 10'000);
  // A date in the past means "now", never a negative wait.
  EXPECT_EQ(ParseRetryAfterMs("Sun, 06 Nov 1994 08:48:37 GMT", now), 0);
  EXPECT_EQ(ParseRetryAfterMs("Mon, 07 Nov 1994 08:49:37 GMT", now), 86'400'000);
}

TEST(RetryAfter, GarbageIsZero) {
  EXPECT_EQ(ParseRetryAfterMs("", 0), 0);
  EXPECT_EQ(ParseRetryAfterMs("soon", 0), 0);
  EXPECT_EQ(ParseRetryAfterMs("-3", 0), 0);
  EXPECT_EQ(ParseRetryAfterMs("1.2.3", 0), 0);
  EXPECT_EQ(ParseRetryAfterMs("Sun, 06 Foo 1994 08:49:37 GMT", 0), 0);
  // Absurdly long waits are kept finite (a day) rather than overflowing.
  EXPECT_EQ(ParseRetryAfterMs("99999999999999999999999", 0), 24LL * 3600 * 1000);
}

class BreakerTest : public ::testing::Test {
 protected:
  BreakerPolicy policy_{
      .window_ms = 10'000, .min_requests = 4, .failure_rate = 0.5, .open_ms = 5'000};
  FakeClock clock_;
  obs::Registry metrics_;
  CircuitBreaker breaker_{"prov/model", policy_, clock_, metrics_};

  int64_t Gauge() {
    return metrics_.GetGauge("keel_gateway_breaker_state", "", "key=\"prov/model\"").Value();
  }
  uint64_t Transitions(const std::string& to) {
    return metrics_
        .GetCounter("keel_gateway_breaker_transitions_total", "",
                    "key=\"prov/model\",to=\"" + to + "\"")
        .Value();
  }
  void Open() {
    for (int i = 0; i < policy_.min_requests; ++i) {
      ASSERT_TRUE(breaker_.Allow());
      breaker_.RecordFailure();
    }
    ASSERT_EQ(breaker_.state(), BreakerState::kOpen);
  }
};

TEST_F(BreakerTest, OpensOnlyAfterMinRequests) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(breaker_.Allow());
    breaker_.RecordFailure();
    EXPECT_EQ(breaker_.state(), BreakerState::kClosed) << "after " << i + 1 << " failures";
  }
  ASSERT_TRUE(breaker_.Allow());
  breaker_.RecordFailure();
  EXPECT_EQ(breaker_.state(), BreakerState::kOpen);
  EXPECT_FALSE(breaker_.Allow());
  EXPECT_EQ(Gauge(), 1);
  EXPECT_EQ(Transitions("open"), 1u);
  EXPECT_EQ(breaker_.RetryAtMs(), clock_.WallMs() + 5'000);
}

TEST_F(BreakerTest, OpensAtTheFailureRateThresholdNotBelow) {
  // 2 of 5 failed (40%): below 50%, stays closed.
  for (bool fail : {false, false, true, false, true}) {
    ASSERT_TRUE(breaker_.Allow());
    fail ? breaker_.RecordFailure() : breaker_.RecordSuccess();
  }
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
  // 3 of 6 (50%): reaches the rate, opens.
  breaker_.RecordFailure();
  EXPECT_EQ(breaker_.state(), BreakerState::kOpen);
}

TEST_F(BreakerTest, StaysOpenUntilOpenMsThenAdmitsExactlyOneProbe) {
  Open();
  clock_.AdvanceMs(4'999);
  EXPECT_FALSE(breaker_.Allow());
  clock_.AdvanceMs(1);
  EXPECT_TRUE(breaker_.Allow());
  EXPECT_EQ(breaker_.state(), BreakerState::kHalfOpen);
  EXPECT_EQ(Gauge(), 2);
  // The probe is out: nobody else gets through until it reports.
  EXPECT_FALSE(breaker_.Allow());
  EXPECT_FALSE(breaker_.Allow());
}

TEST_F(BreakerTest, ProbeSuccessCloses) {
  Open();
  clock_.AdvanceMs(5'000);
  ASSERT_TRUE(breaker_.Allow());
  breaker_.RecordSuccess();
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
  EXPECT_EQ(Gauge(), 0);
  EXPECT_EQ(Transitions("closed"), 1u);
  EXPECT_EQ(breaker_.RetryAtMs(), 0);
  // The failures before the trip are forgotten: one more failure does not reopen it.
  EXPECT_TRUE(breaker_.Allow());
  breaker_.RecordFailure();
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
}

TEST_F(BreakerTest, ProbeFailureReopensForAnotherOpenMs) {
  Open();
  clock_.AdvanceMs(5'000);
  ASSERT_TRUE(breaker_.Allow());
  breaker_.RecordFailure();
  EXPECT_EQ(breaker_.state(), BreakerState::kOpen);
  EXPECT_EQ(Transitions("open"), 2u);
  EXPECT_EQ(breaker_.RetryAtMs(), clock_.WallMs() + 5'000);
  clock_.AdvanceMs(4'000);
  EXPECT_FALSE(breaker_.Allow());
  clock_.AdvanceMs(1'000);
  EXPECT_TRUE(breaker_.Allow());
}

TEST_F(BreakerTest, ReleasedProbeLetsTheNextOneThrough) {
  Open();
  clock_.AdvanceMs(5'000);
  ASSERT_TRUE(breaker_.Allow());
  EXPECT_FALSE(breaker_.Allow());
  breaker_.Release();
  EXPECT_EQ(breaker_.state(), BreakerState::kHalfOpen);
  EXPECT_TRUE(breaker_.Allow());
}

TEST_F(BreakerTest, LostProbeIsReplacedAfterOpenMs) {
  Open();
  clock_.AdvanceMs(5'000);
  ASSERT_TRUE(breaker_.Allow());
  clock_.AdvanceMs(4'999);
  EXPECT_FALSE(breaker_.Allow());
  clock_.AdvanceMs(1);
  EXPECT_TRUE(breaker_.Allow());
}

TEST_F(BreakerTest, WindowForgetsOldFailures) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(breaker_.Allow());
    breaker_.RecordFailure();
  }
  EXPECT_EQ(breaker_.ToJson().at("failures").as_int64(), 3);
  clock_.AdvanceMs(10'001);
  EXPECT_EQ(breaker_.ToJson().at("requests").as_int64(), 0);
  // Three old failures plus one new would trip a breaker that remembered them; this one
  // sees a single request.
  ASSERT_TRUE(breaker_.Allow());
  breaker_.RecordFailure();
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
  EXPECT_EQ(breaker_.ToJson().at("requests").as_int64(), 1);
}

TEST_F(BreakerTest, ToJsonDescribesTheState) {
  Open();
  auto j = breaker_.ToJson();
  EXPECT_EQ(j.at("key").as_string(), "prov/model");
  EXPECT_EQ(j.at("state").as_string(), "open");
  EXPECT_EQ(j.at("requests").as_int64(), 4);
  EXPECT_EQ(j.at("failures").as_int64(), 4);
  EXPECT_EQ(j.at("opened_at_ms").as_int64(), clock_.WallMs());
  EXPECT_EQ(j.at("retry_at_ms").as_int64(), clock_.WallMs() + 5'000);
}

TEST(BreakerSet, CreatesOnceAndListsEveryBreaker) {
  FakeClock clock;
  obs::Registry metrics;
  BreakerSet set(clock, metrics);
  BreakerPolicy p{.window_ms = 1000, .min_requests = 1, .failure_rate = 1, .open_ms = 100};
  CircuitBreaker& a = set.Get("p/a", p);
  EXPECT_EQ(&a, &set.Get("p/a", p));
  set.Get("tool:x", p).RecordFailure();
  auto all = set.ToJson();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].at("key").as_string(), "p/a");
  EXPECT_EQ(all[0].at("state").as_string(), "closed");
  EXPECT_EQ(all[1].at("key").as_string(), "tool:x");
  EXPECT_EQ(all[1].at("state").as_string(), "open");
  EXPECT_NE(metrics.Render().find("keel_gateway_breaker_state{key=\"tool:x\"} 1"),
            std::string::npos)
      << metrics.Render();
}

}  // namespace
}  // namespace keel::gateway
