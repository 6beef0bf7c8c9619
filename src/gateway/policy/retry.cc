#include "gateway/policy/retry.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <string>

namespace keel::gateway {

namespace {

// A Retry-After far in the future is still honoured, but kept well clear of overflow when
// added to a wall clock: a day is longer than any call waits.
constexpr int64_t kMaxRetryAfterMs = 24LL * 3600 * 1000;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// delta-seconds, with the fraction some providers send ("0.5"); -1 when not that form.
int64_t ParseDeltaSeconds(std::string_view s) {
  double seconds = 0;
  bool digits = false, dot = false;
  double scale = 0.1;
  for (char c : s) {
    if (c >= '0' && c <= '9') {
      digits = true;
      if (dot) {
        seconds += (c - '0') * scale;
        scale /= 10;
      } else {
        seconds = seconds * 10 + (c - '0');
        if (seconds * 1000 > kMaxRetryAfterMs) seconds = kMaxRetryAfterMs / 1000.0;
      }
    } else if (c == '.' && !dot) {
      dot = true;
    } else {
      return -1;
    }
  }
  if (!digits) return -1;
  return std::min<int64_t>(kMaxRetryAfterMs, static_cast<int64_t>(std::llround(seconds * 1000)));
}

int MonthIndex(std::string_view m) {
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i) {
    if (m == kMonths[i]) return i;
  }
  return -1;
}

// IMF-fixdate (RFC 9110 5.6.7), "Sun, 06 Nov 1994 08:49:37 GMT", as wall ms; -1 otherwise.
int64_t ParseImfFixdate(std::string_view s) {
  if (s.size() != 29 || s[3] != ',' || s.substr(26) != "GMT") return -1;
  auto num = [&](size_t pos, size_t len) -> int {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return -1;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  std::tm tm{};
  tm.tm_mday = num(5, 2);
  tm.tm_mon = MonthIndex(s.substr(8, 3));
  int year = num(12, 4);
  tm.tm_hour = num(17, 2);
  tm.tm_min = num(20, 2);
  tm.tm_sec = num(23, 2);
  if (tm.tm_mday < 1 || tm.tm_mon < 0 || year < 1970 || tm.tm_hour < 0 || tm.tm_min < 0 ||
      tm.tm_sec < 0 || s[19] != ':' || s[22] != ':') {
    return -1;
  }
  tm.tm_year = year - 1900;
  time_t t = timegm(&tm);
  if (t == static_cast<time_t>(-1)) return -1;
  return static_cast<int64_t>(t) * 1000;
}

}  // namespace

int64_t BackoffCeilingMs(const RetryPolicy& p, int next_attempt) {
  // Doubling stops once the ceiling reaches max_backoff_ms, which also keeps it from overflowing.
  int64_t ceiling = std::max<int64_t>(0, p.base_backoff_ms);
  for (int n = 2; n < next_attempt && ceiling < p.max_backoff_ms; ++n) ceiling *= 2;
  return std::min(ceiling, std::max<int64_t>(0, p.max_backoff_ms));
}

int64_t BackoffMs(const RetryPolicy& p, int next_attempt, int64_t retry_after_ms, Random& random) {
  int64_t ceiling = BackoffCeilingMs(p, next_attempt);
  int64_t wait = 0;
  if (ceiling > 0) wait = static_cast<int64_t>(random.Next() % static_cast<uint64_t>(ceiling + 1));
  return std::max(wait, retry_after_ms);
}

int64_t ParseRetryAfterMs(std::string_view header, int64_t now_wall_ms) {
  std::string_view s = Trim(header);
  if (s.empty()) return 0;
  if (int64_t ms = ParseDeltaSeconds(s); ms >= 0) return ms;
  int64_t at = ParseImfFixdate(s);
  if (at < 0) return 0;
  return std::clamp<int64_t>(at - now_wall_ms, 0, kMaxRetryAfterMs);
}

}  // namespace keel::gateway
