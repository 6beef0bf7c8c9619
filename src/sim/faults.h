#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/random.h"
#include "base/result.h"

namespace keel::sim {

// One key's fault knobs (docs/llm_simulator.md, "Faults"). Rates are probabilities drawn from
// the simulator's seeded Random; the *_next counters and outage are deterministic.
struct FaultConfig {
  double error_rate = 0.0;
  std::vector<int> error_status{500, 503, 529};
  double rate_limit_rate = 0.0;
  int64_t retry_after_ms = 1000;
  int64_t fail_next = 0;
  int fail_status = 503;
  int64_t rate_limit_next = 0;
  bool outage = false;
  int64_t latency_ms = 0;
  double stall_rate = 0.0;
  int64_t stall_after_chunks = 2;
  double reset_rate = 0.0;
  double malformed_rate = 0.0;
  double truncated_rate = 0.0;
  double bad_tool_args_rate = 0.0;
  double blackhole_rate = 0.0;
  bool spend_limit = false;
  bool omit_usage = false;
};

// What happens to one request. At most one `kind` (the first that applies in the order
// below); bad_tool_args and omit_usage alter an otherwise normal answer.
enum class FaultKind {
  kNone,
  kOutage,         // 503
  kFailNext,       // fail_status
  kRateLimitNext,  // 429 + Retry-After
  kSpendLimit,     // provider's quota error
  kError,          // a status from error_status
  kRateLimit,      // 429 + Retry-After
  kReset,          // TCP RST after reading the request
  kBlackhole,      // never answer
  kStall,          // stall_after_chunks stream events (or nothing), then silence
  kMalformed,      // 200 with invalid JSON / a broken SSE line
  kTruncated,      // Content-Length larger than what is sent, then close
};

const char* FaultName(FaultKind kind);  // "" for kNone, else e.g. "fail_next"

struct FaultDecision {
  FaultKind kind = FaultKind::kNone;
  int status = 200;  // for the error kinds
  int64_t retry_after_ms = 0;
  int64_t latency_ms = 0;
  int64_t stall_after_chunks = 0;
  bool bad_tool_args = false;
  bool omit_usage = false;
  // Whether the client gets an HTTP error response (status != 200) rather than a 200 or nothing.
  bool IsErrorResponse() const;
};

// The faults by key: "*" (every model request), a model name, "tool:<name>", "tool:*",
// "effect:<name>", "effect:*".
class FaultTable {
 public:
  static Result<FaultTable> Parse(const boost::json::value& v);
  boost::json::object ToJson() const;  // counters show what is left
  bool empty() const { return by_key_.empty(); }
  std::vector<std::string> Keys() const;

  // Picks the config of the most specific key present (the first of `keys` found), counts down
  // its deterministic counters and draws its random ones.
  FaultDecision Decide(const std::vector<std::string>& keys, Random& rng);

 private:
  std::map<std::string, FaultConfig> by_key_;
};

Result<FaultConfig> ParseFaultConfig(const boost::json::value& v, const std::string& where);
boost::json::object FaultConfigToJson(const FaultConfig& c);

}  // namespace keel::sim
