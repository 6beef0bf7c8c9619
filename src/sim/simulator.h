#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/random.h"
#include "base/result.h"
#include "sim/chat.h"
#include "sim/effects.h"
#include "sim/faults.h"
#include "sim/scenario.h"
#include "sim/stats.h"

namespace keel::sim {

struct SimOptions {
  uint64_t seed = 1;
  int64_t latency_ms = 0;                         // added to every model request
  std::string require_key;                        // empty: no key needed
  const Clock* clock = &SystemClock::Instance();  // stamps applied effects (at_ms)
};

// What to do with one request to /effects/{mode}/{name}. With a fault that breaks or withholds
// the answer (reset, blackhole, stall, malformed, truncated) the effect has been applied all the
// same: that is the "outcome lost" case a caller must survive.
struct EffectPlan {
  FaultDecision fault;
  int status = 200;
  boost::json::object body;
  bool replay = false;  // answer with Idempotent-Replay: true
  int64_t sleep_ms = 0;
};

// What to do with one chat request, decided (and accounted) up front under the simulator's
// lock; the connection then carries it out without holding any lock.
struct ChatPlan {
  FaultDecision fault;  // kind kNone: answer `completion` (unless status != 200)
  int status = 200;     // != 200 with kind kNone: a scenario error (`error_message`)
  std::string error_message;
  Completion completion;
  int64_t latency_ms = 0;
};

struct ToolPlan {
  FaultDecision fault;
  int status = 200;
  boost::json::object body;  // the tool's result with "call_id", or an error body
  int64_t sleep_ms = 0;
};

// The simulator's state: scenario, run-time faults, seeded randomness, id counters and
// accounting. Thread-safe; every method takes one short lock.
class Simulator {
 public:
  Simulator(SimOptions options, Scenario scenario);

  const SimOptions& options() const { return options_; }

  // Replaces rules and default; the faults too when the scenario sets them.
  void SetScenario(Scenario scenario);
  // Replaces the run-time faults (kInvalidArgument naming the bad key).
  Status SetFaults(const boost::json::value& faults);
  boost::json::object FaultsJson();
  // The scenario's models plus sim-large and sim-small, sorted.
  std::vector<std::string> Models();

  ChatPlan PlanChat(const ChatRequest& req, const std::string& idempotency_key);
  // Accounts for a model request refused before planning (bad JSON, bad key): `model` may be
  // empty when the request named none.
  void RecordRefused(Api api, const std::string& model, const std::string& fingerprint, int status,
                     const std::string& idempotency_key);
  ToolPlan PlanTool(const std::string& name, const std::string& body,
                    const std::string& idempotency_key, const std::string& traceparent);

  // Faults apply under "effect:<name>", then "effect:*". The effect is applied (or replayed)
  // when the request arrives, before any latency: a caller that gives up while waiting has
  // still caused it.
  EffectPlan PlanEffect(EffectMode mode, const std::string& name, const std::string& body,
                        const std::string& idempotency_key);
  boost::json::object EffectsJson();

  boost::json::object StatsJson();
  boost::json::array RequestsJson();
  // Stats, requests and effects (with the honour store); not the scenario, faults or id
  // counters.
  void Reset();

 private:
  void BreakToolArgs(Completion& c);

  const SimOptions options_;
  std::mutex mu_;
  Scenario scenario_;
  FaultTable faults_;
  Random rng_;
  Stats stats_;
  EffectLedger effects_;
  int64_t next_completion_ = 0;
  int64_t next_call_ = 0;
  int64_t next_tool_call_id_ = 0;
  int64_t bad_args_count_ = 0;
};

// The bad_tool_args variants: JSON text cut short (not parseable), and an object whose every
// value has the wrong type (parseable, breaks the schema).
std::string InvalidJsonArguments(const std::string& arguments);
std::string SchemaBreakingArguments(const std::string& arguments);

}  // namespace keel::sim
