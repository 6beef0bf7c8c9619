#include "model/approval.h"

#include "model/json.h"

namespace keel::model {

boost::json::object ApprovalToJson(const Approval& a) {
  boost::json::object o;
  o["id"] = a.id;
  o["run_id"] = a.run_id;
  o["seq"] = a.seq;
  o["tenant"] = a.tenant;
  o["intent"] = a.intent;
  o["step"] = a.step;
  o["payload"] = StoredJson(a.payload_json);
  o["approvers"] = StoredJson(a.approvers_json);
  o["escalate_to"] = StoredJson(a.escalate_to_json);
  o["on_timeout"] = a.on_timeout;
  o["timeout_ms"] = a.timeout_ms;
  o["deadline_at_ms"] = a.deadline_at_ms;
  o["escalation_level"] = a.escalation_level;
  o["max_escalations"] = a.max_escalations;
  o["status"] = a.status;
  o["decided_by"] = a.decided_by;
  o["reason"] = a.reason;
  o["decided_at_ms"] = a.decided_at_ms;
  o["timed_out"] = a.timed_out;
  o["created_at_ms"] = a.created_at_ms;
  return o;
}

boost::json::object ApprovalEventToJson(const ApprovalEvent& e) {
  return {{"approval_id", e.approval_id},
          {"at_ms", e.at_ms},
          {"event", e.event},
          {"who", e.who},
          {"detail", StoredJson(e.detail_json)}};
}

boost::json::object ApprovalDecisionJson(const Approval& a) {
  return {{"approval_id", a.id},     {"decision", a.status}, {"approved", a.status == "approved"},
          {"by", a.decided_by},      {"reason", a.reason},   {"at", a.decided_at_ms},
          {"timed_out", a.timed_out}};
}

}  // namespace keel::model
