#include "sim/effects.h"

#include "sim/json_util.h"

namespace keel::sim {

namespace json = boost::json;

std::optional<EffectMode> ParseEffectMode(std::string_view name) {
  if (name == "honour") return EffectMode::kHonour;
  if (name == "naive") return EffectMode::kNaive;
  return std::nullopt;
}

const char* EffectModeName(EffectMode mode) {
  return mode == EffectMode::kHonour ? "honour" : "naive";
}

namespace {

EffectOutcome Refused(int status, const char* type, const std::string& message) {
  EffectOutcome o;
  o.status = status;
  o.body = json::object{{"error", json::object{{"type", type}, {"message", message}}}};
  return o;
}

json::value KeyOrNull(const std::string& key) {
  return key.empty() ? json::value(nullptr) : json::value(key);
}

}  // namespace

void EffectLedger::CountRequest(const std::string& key) {
  if (!key.empty()) ++requests_by_key_[key];
}

EffectOutcome EffectLedger::Apply(EffectMode mode, const std::string& name, const json::value& args,
                                  const std::string& key, int64_t now_ms) {
  std::string path = std::string("/effects/") + EffectModeName(mode) + "/" + name;
  std::string canonical;
  if (mode == EffectMode::kHonour) {
    if (key.empty()) {
      return Refused(400, "invalid_request_error",
                     path + ": an Idempotency-Key header is required (this service honours keys)");
    }
    canonical = CanonicalJson(args);
    if (auto it = stored_.find(key); it != stored_.end()) {
      const Stored& s = it->second;
      if (s.name != name || s.canonical_args != canonical) {
        // A key names one request: reusing it for another one is the caller's bug, and
        // replaying the first response would hide it.
        return Refused(422, "idempotency_error",
                       path + ": Idempotency-Key \"" + key + "\" was already used for " +
                           (s.name != name ? "the effect \"" + s.name + "\""
                                           : "this effect with other arguments") +
                           " (effect " + std::to_string(s.effect_id) + ")");
      }
      EffectOutcome o;
      o.body = s.body;
      o.replay = true;
      o.effect_id = s.effect_id;
      return o;
    }
  }
  int64_t id = ++next_id_;
  EffectOutcome o;
  o.effect_id = id;
  o.body = json::object{{"effect_id", id},
                        {"mode", EffectModeName(mode)},
                        {"name", name},
                        {"args", args},
                        {"idempotency_key", KeyOrNull(key)}};
  effects_.push_back(Effect{id, mode, name, key, args, now_ms});
  if (effects_.size() > max_effects_) effects_.pop_front();
  if (!key.empty()) ++applied_by_key_[key];
  if (mode == EffectMode::kHonour) stored_[key] = Stored{name, std::move(canonical), o.body, id};
  return o;
}

json::object EffectLedger::ToJson() const {
  json::array effects;
  effects.reserve(effects_.size());
  for (const Effect& e : effects_) {
    effects.push_back(json::object{{"effect_id", e.id},
                                   {"mode", EffectModeName(e.mode)},
                                   {"name", e.name},
                                   {"idempotency_key", KeyOrNull(e.key)},
                                   {"args", e.args},
                                   {"at_ms", e.at_ms}});
  }
  json::object requests, applied;
  for (const auto& [k, n] : requests_by_key_) requests[k] = n;
  for (const auto& [k, n] : applied_by_key_) applied[k] = n;
  return json::object{{"effects", std::move(effects)},
                      {"requests_by_key", std::move(requests)},
                      {"applied_by_key", std::move(applied)}};
}

void EffectLedger::Reset() {
  effects_.clear();
  requests_by_key_.clear();
  applied_by_key_.clear();
  stored_.clear();
}

}  // namespace keel::sim
