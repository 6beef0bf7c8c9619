#pragma once

#include <cstdint>
#include <string_view>

#include "base/random.h"
#include "gateway/config.h"

namespace keel::gateway {

// Wait before attempt `next_attempt` (2 = first retry): full jitter over the exponential
// ceiling, raised to `retry_after_ms` (from a Retry-After header; 0: none) when that is longer.
int64_t BackoffMs(const RetryPolicy& p, int next_attempt, int64_t retry_after_ms, Random& random);

// The top of BackoffMs's jitter range for `next_attempt`: min(max_backoff_ms,
// base_backoff_ms * 2^(next_attempt-2)). E.g. base 200, max 1000: 200, 400, 800, 1000, 1000...
int64_t BackoffCeilingMs(const RetryPolicy& p, int next_attempt);

// Retry-After in ms: delta-seconds ("2", "0.5") or an HTTP date relative to `now_wall_ms`.
// 0 when absent or unparseable.
int64_t ParseRetryAfterMs(std::string_view header, int64_t now_wall_ms);

}  // namespace keel::gateway
