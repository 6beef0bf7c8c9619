#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

namespace keel::sim {

// One model or tool request as /admin/requests reports it.
struct RequestRecord {
  int64_t n = 0;            // arrival sequence number, from 1 (assigned by Stats)
  std::string api;          // "openai", "anthropic", "tool", "effect"
  std::string model;        // or the tool name, or "<mode>/<name>" of an effect
  std::string fingerprint;  // see Fingerprint()
  std::string response_id;  // chatcmpl-/msg_ id, tool call_id or effect_id served; "" when none
  int status = 0;           // HTTP status sent; 0 when none (reset, blackhole, stall)
  std::string fault;        // "" or FaultName()
  std::string idempotency_key;
};

// Request accounting for the admin API. Not thread-safe: the Simulator guards it.
class Stats {
 public:
  // Keeps the most recent `max_records` records (a long benchmark must not grow without bound).
  explicit Stats(size_t max_records = 100'000) : max_records_(max_records) {}

  // Records a model request (or, when `model` is empty, a request too malformed to name one:
  // it counts in requests_total and /admin/requests but in no model). Returns its n.
  int64_t RecordModel(RequestRecord r);
  // Records a tool request; `call_id` is 0 when none was served.
  int64_t RecordTool(RequestRecord r, int64_t call_id, const std::string& traceparent);
  // Records a request to /effects/... (its own accounting is the EffectLedger's): it counts in
  // requests_total and /admin/requests only.
  int64_t RecordEffect(RequestRecord r) { return Append(std::move(r)); }

  boost::json::object StatsJson() const;
  boost::json::array RequestsJson() const;
  void Reset();

 private:
  struct ModelStats {
    int64_t requests = 0;
    std::map<int, int64_t> by_status;
  };
  struct KeyStats {
    int64_t count = 0;
    std::vector<int64_t> call_ids;
  };
  struct ToolStats {
    int64_t requests = 0;
    std::map<std::string, KeyStats> keys;
    std::string last_traceparent;
  };
  int64_t Append(RequestRecord r);

  size_t max_records_;
  int64_t total_ = 0;
  std::map<std::string, ModelStats> models_;
  std::map<std::string, ToolStats> tools_;
  std::deque<RequestRecord> records_;
};

}  // namespace keel::sim
