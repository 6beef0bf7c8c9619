#pragma once

#include <cstdint>
#include <string>

#include <boost/json/object.hpp>

namespace keel::model {

// A human approval gate created by ctx.approval (docs/approvals.md). The approval row is the
// source of truth for the decision: a decision (by a person or by the timeout) is recorded
// once, in the same transaction that delivers it to the run as the signal
// "$approval:<id>".
struct Approval {
  std::string id;  // derived from run_id and seq, so a replayed creation is the same row
  std::string run_id;
  int64_t seq = 0;  // the journal entry that created it
  std::string tenant;
  std::string intent;
  std::string step;                   // ctx.approval{step = ...}
  std::string payload_json = "null";  // what the approver looks at
  std::string approvers_json = "[]";  // who may decide (JSON array of names); []: anyone
  std::string escalate_to_json = "[]";
  std::string on_timeout = "deny";  // approve | deny | escalate
  int64_t timeout_ms = 0;           // each period (the first and every escalation)
  int64_t deadline_at_ms = 0;       // when the current period ends; 0: never
  int escalation_level = 0;         // escalations so far
  int max_escalations = 1;          // after the last one times out, it is denied
  std::string status = "pending";   // pending | approved | denied | withdrawn (its run ended)
  std::string decided_by;           // a person, "keel:timeout", or "keel:run_ended" (withdrawn)
  std::string reason;
  int64_t decided_at_ms = 0;
  bool timed_out = false;
  int64_t created_at_ms = 0;
};

// One line of an approval's audit trail: created, notified, escalated, decided, withdrawn (its
// run ended first), rejected (a later, different decision that was refused).
struct ApprovalEvent {
  std::string approval_id;
  int64_t at_ms = 0;
  std::string event;
  std::string who;
  std::string detail_json = "{}";
};

boost::json::object ApprovalToJson(const Approval& a);
boost::json::object ApprovalEventToJson(const ApprovalEvent& e);
// What the workflow receives (and the signal carries) once decided: {"approval_id",
// "decision", "approved", "by", "reason", "at", "timed_out"}.
boost::json::object ApprovalDecisionJson(const Approval& a);

}  // namespace keel::model
