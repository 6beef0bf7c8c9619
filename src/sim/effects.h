#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace keel::sim {

// A receiving service for side effects (POST /effects/{mode}/{name}), so tests can prove what
// Keel's outbox promises: with `honour`, each intent takes effect exactly once however often it
// is delivered; with `naive`, every delivery takes effect and the duplicates can be counted.
enum class EffectMode {
  kHonour,  // honours Idempotency-Key: the first request with a key applies, later ones replay
  kNaive,   // ignores keys: every request applies
};

std::optional<EffectMode> ParseEffectMode(std::string_view name);
const char* EffectModeName(EffectMode mode);

// What one request gets. A replay (status 200, replay = true) returns the stored body of the
// request that applied the effect.
struct EffectOutcome {
  int status = 200;
  boost::json::object body;  // {"effect_id", "mode", "name", "args", "idempotency_key"} or
                             // {"error": {"type", "message"}}
  bool replay = false;       // answer with Idempotent-Replay: true
  int64_t effect_id = 0;     // the effect applied or replayed; 0 when none
};

// The ledger of applied effects, the honour store (key -> the response that applied it) and
// the per-key counters. Not thread-safe: the Simulator guards it.
class EffectLedger {
 public:
  // Keeps the most recent `max_effects` effect records (the counters keep counting).
  explicit EffectLedger(size_t max_effects = 100'000) : max_effects_(max_effects) {}

  // Counts a request that carried `key`, whatever happens to it (faults included).
  void CountRequest(const std::string& key);

  // Applies the effect `name` with `args`, or, for kHonour with a key already applied, replays
  // the stored response. kHonour needs a key (400 without one); a key reused with another name
  // or other args is refused (422) and applies nothing, as payment APIs do.
  EffectOutcome Apply(EffectMode mode, const std::string& name, const boost::json::value& args,
                      const std::string& key, int64_t now_ms);

  // {"effects": [{"effect_id", "mode", "name", "idempotency_key", "args", "at_ms"}...],
  //  "requests_by_key": {key: n}, "applied_by_key": {key: n}}
  boost::json::object ToJson() const;
  // Forgets effects, counters and stored responses (effect ids keep increasing).
  void Reset();

 private:
  struct Effect {
    int64_t id = 0;
    EffectMode mode = EffectMode::kNaive;
    std::string name;
    std::string key;
    boost::json::value args;
    int64_t at_ms = 0;
  };
  struct Stored {
    std::string name;
    std::string canonical_args;  // to recognise a key reused for another request
    boost::json::object body;
    int64_t effect_id = 0;
  };

  size_t max_effects_;
  int64_t next_id_ = 0;
  std::deque<Effect> effects_;
  std::map<std::string, int64_t> requests_by_key_;
  std::map<std::string, int64_t> applied_by_key_;
  std::map<std::string, Stored> stored_;
};

}  // namespace keel::sim
