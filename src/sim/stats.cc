#include "sim/stats.h"

namespace keel::sim {

namespace json = boost::json;

int64_t Stats::Append(RequestRecord r) {
  r.n = ++total_;
  records_.push_back(std::move(r));
  if (records_.size() > max_records_) records_.pop_front();
  return total_;
}

int64_t Stats::RecordModel(RequestRecord r) {
  if (!r.model.empty()) {
    ModelStats& m = models_[r.model];
    ++m.requests;
    ++m.by_status[r.status];
  }
  return Append(std::move(r));
}

int64_t Stats::RecordTool(RequestRecord r, int64_t call_id, const std::string& traceparent) {
  ToolStats& t = tools_[r.model];
  ++t.requests;
  if (!r.idempotency_key.empty()) {
    KeyStats& k = t.keys[r.idempotency_key];
    ++k.count;
    if (call_id > 0) k.call_ids.push_back(call_id);
  }
  if (!traceparent.empty()) t.last_traceparent = traceparent;
  return Append(std::move(r));
}

json::object Stats::StatsJson() const {
  json::object models;
  for (const auto& [name, m] : models_) {
    json::object by_status;
    for (const auto& [status, n] : m.by_status) by_status[std::to_string(status)] = n;
    models[name] = json::object{{"requests", m.requests}, {"by_status", std::move(by_status)}};
  }
  json::object tools;
  for (const auto& [name, t] : tools_) {
    json::object keys;
    for (const auto& [key, k] : t.keys) {
      json::array ids;
      for (int64_t id : k.call_ids) ids.push_back(id);
      keys[key] = json::object{{"count", k.count}, {"call_ids", std::move(ids)}};
    }
    tools[name] = json::object{{"requests", t.requests},
                               {"keys", std::move(keys)},
                               {"last_traceparent", t.last_traceparent}};
  }
  return json::object{
      {"requests_total", total_}, {"models", std::move(models)}, {"tools", std::move(tools)}};
}

json::array Stats::RequestsJson() const {
  json::array out;
  out.reserve(records_.size());
  for (const auto& r : records_) {
    out.push_back(json::object{{"n", r.n},
                               {"api", r.api},
                               {"model", r.model},
                               {"fingerprint", r.fingerprint},
                               {"response_id", r.response_id},
                               {"status", r.status},
                               {"fault", r.fault},
                               {"idempotency_key", r.idempotency_key}});
  }
  return out;
}

void Stats::Reset() {
  total_ = 0;
  models_.clear();
  tools_.clear();
  records_.clear();
}

}  // namespace keel::sim
