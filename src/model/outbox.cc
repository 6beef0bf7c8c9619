#include "model/outbox.h"

#include "model/json.h"

namespace keel::model {

boost::json::object OutboxToJson(const OutboxIntent& o) {
  boost::json::object j;
  j["key"] = o.key;
  j["run_id"] = o.run_id;
  j["seq"] = o.seq;
  j["tenant"] = o.tenant;
  j["kind"] = o.kind;
  j["target"] = o.target;
  j["args"] = StoredJson(o.args_json);
  j["status"] = o.status;
  j["attempts"] = o.attempts;
  j["max_attempts"] = o.max_attempts;
  j["next_attempt_at_ms"] = o.next_attempt_at_ms;
  j["last_error"] = o.last_error;
  j["result"] = o.result_json.empty() ? boost::json::value(nullptr) : StoredJson(o.result_json);
  j["created_at_ms"] = o.created_at_ms;
  j["updated_at_ms"] = o.updated_at_ms;
  return j;
}

}  // namespace keel::model
