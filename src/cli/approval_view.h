#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <string>

// `keel approvals ...`: approval gates (GET /v1/approvals, GET /v1/approvals/{id}) as text.
// Pure functions of the server's JSON and the current time.
namespace keel::cli {

// Table ID RUN STEP STATUS DEADLINE ESCALATION APPROVERS. DEADLINE is the UTC end of the
// current period of a pending approval ("-" once decided or when it has none); ESCALATION is
// "<level>/<max>"; APPROVERS "anyone" when the list is empty.
std::string FormatApprovalTable(const boost::json::array& approvals);

// `keel approvals show`: "key: value" lines (the deadline while pending; then who decided and
// when, or when it was withdrawn because its run ended, and the reason), the payload (pretty
// JSON), then the audit trail as a table TIME EVENT WHO DETAIL.
std::string FormatApprovalDetails(const boost::json::object& approval, int64_t now_ms);

// The line after a decision: "approval <id> approved by alice", with
// " (already recorded; nothing changed)" when the server answered existing.
std::string FormatDecisionLine(const boost::json::object& approval, bool existing);

}  // namespace keel::cli
