#include "cli/approval_view.h"

#include <gtest/gtest.h>

#include "cli/output.h"

namespace keel::cli {
namespace {

namespace json = boost::json;

json::value J(std::string_view text) {
  std::string error;
  auto v = ParseJson(text, &error);
  EXPECT_TRUE(v.has_value()) << error << " in " << text;
  return v ? *v : json::value();
}

constexpr int64_t kNow = 1'700'000'000'000;  // 2023-11-14T22:13:20Z

const char* kPending = R"({
  "id": "ap-1", "run_id": "run-1", "seq": 4, "tenant": "acme", "intent": "refund",
  "step": "manager_ok", "payload": {"amount": 120, "to": "c-9"},
  "approvers": ["alice", "bob"], "escalate_to": ["carol"], "on_timeout": "escalate",
  "timeout_ms": 3600000, "deadline_at_ms": 1700000300000, "escalation_level": 0,
  "max_escalations": 1, "status": "pending", "decided_by": "", "reason": "",
  "decided_at_ms": 0, "timed_out": false, "created_at_ms": 1699999940000
})";

const char* kTimedOut = R"({
  "id": "ap-2", "run_id": "run-2", "seq": 2, "tenant": "acme", "intent": "deploy",
  "step": "go_live", "payload": null, "approvers": [], "escalate_to": [],
  "on_timeout": "deny", "timeout_ms": 60000, "deadline_at_ms": 1699999990000,
  "escalation_level": 1, "max_escalations": 1, "status": "denied",
  "decided_by": "keel:timeout", "reason": "no answer\nin time", "decided_at_ms": 1699999990000,
  "timed_out": true, "created_at_ms": 1699999870000
})";

TEST(ApprovalViewTest, Table) {
  json::array approvals{J(kPending), J(kTimedOut)};
  EXPECT_EQ(FormatApprovalTable(approvals),
            "ID    RUN    STEP        STATUS   DEADLINE              ESCALATION  APPROVERS\n"
            "ap-1  run-1  manager_ok  pending  2023-11-14T22:18:20Z  0/1         alice, bob\n"
            "ap-2  run-2  go_live     denied   -                     1/1         anyone\n");
}

TEST(ApprovalViewTest, PendingDetailsWithAuditTrail) {
  json::object a = J(kPending).get_object();
  a["audit"] = J(R"([
    {"approval_id":"ap-1","at_ms":1699999940000,"event":"created","who":"","detail":{}},
    {"approval_id":"ap-1","at_ms":1699999950000,"event":"notified","who":"",
     "detail":{"target":"slack"}}])");
  EXPECT_EQ(FormatApprovalDetails(a, kNow),
            "id:          ap-1\n"
            "run:         run-1\n"
            "intent:      refund\n"
            "tenant:      acme\n"
            "step:        manager_ok\n"
            "status:      pending\n"
            "approvers:   alice, bob\n"
            "escalate to: carol\n"
            "on timeout:  escalate after 1h\n"
            "escalation:  level 0 of 1\n"
            "deadline:    2023-11-14T22:18:20Z (in 5m)\n"
            "created:     2023-11-14T22:12:20Z (1m ago)\n"
            "payload:     {\n"
            "               \"amount\": 120,\n"
            "               \"to\": \"c-9\"\n"
            "             }\n"
            "\n"
            "audit:\n"
            "TIME                  EVENT     WHO  DETAIL\n"
            "2023-11-14T22:12:20Z  created   -\n"
            "2023-11-14T22:12:30Z  notified  -    {\"target\":\"slack\"}\n");
}

TEST(ApprovalViewTest, DecidedDetails) {
  std::string text = FormatApprovalDetails(J(kTimedOut).get_object(), kNow);
  EXPECT_NE(text.find("approvers:  anyone\n"), std::string::npos) << text;
  EXPECT_NE(text.find("decided:    denied by keel:timeout at 2023-11-14T22:13:10Z (timed out)\n"
                      "reason:     no answer\n"
                      "            in time\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("deadline:"), std::string::npos) << "only a pending approval has one";
  EXPECT_EQ(text.find("escalate to:"), std::string::npos) << text;
  EXPECT_EQ(text.find("audit:"), std::string::npos) << "no audit in the answer, none shown";

  json::object a = J(kTimedOut).get_object();
  a["audit"] = json::array();
  EXPECT_NE(FormatApprovalDetails(a, kNow).find("\naudit:\n  (no events)\n"), std::string::npos);
}

TEST(ApprovalViewTest, WithdrawnDetailsAndTable) {
  json::object a = J(kPending).get_object();
  a["status"] = "withdrawn";
  a["decided_by"] = "keel:run_ended";
  a["reason"] = "the run ended cancelled";
  a["decided_at_ms"] = 1699999990000;
  a["audit"] = J(R"([
    {"approval_id":"ap-1","at_ms":1699999940000,"event":"created","who":"","detail":{}},
    {"approval_id":"ap-1","at_ms":1699999990000,"event":"withdrawn","who":"keel:run_ended",
     "detail":{"run_id":"run-1","run_status":"cancelled"}}])");
  std::string text = FormatApprovalDetails(a, kNow);
  EXPECT_NE(text.find("status:      withdrawn\n"), std::string::npos) << text;
  EXPECT_NE(text.find("withdrawn:   2023-11-14T22:13:10Z by keel:run_ended\n"
                      "reason:      the run ended cancelled\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("decided:"), std::string::npos) << "nobody decided: " << text;
  EXPECT_EQ(text.find("deadline:"), std::string::npos) << "no timer runs any more: " << text;
  EXPECT_NE(text.find("2023-11-14T22:13:10Z  withdrawn  keel:run_ended  "
                      "{\"run_id\":\"run-1\",\"run_status\":\"cancelled\"}\n"),
            std::string::npos)
      << text;

  EXPECT_EQ(FormatApprovalTable(json::array{a}),
            "ID    RUN    STEP        STATUS     DEADLINE  ESCALATION  APPROVERS\n"
            "ap-1  run-1  manager_ok  withdrawn  -         0/1         alice, bob\n");
}

TEST(ApprovalViewTest, DecisionLine) {
  json::object a = J(kPending).get_object();
  a["status"] = "approved";
  a["decided_by"] = "alice";
  EXPECT_EQ(FormatDecisionLine(a, false), "approval ap-1 approved by alice");
  EXPECT_EQ(FormatDecisionLine(a, true),
            "approval ap-1 approved by alice (already recorded; nothing changed)");
  a["decided_by"] = "ev\x1b[2Jil";
  EXPECT_EQ(FormatDecisionLine(a, false), "approval ap-1 approved by ev?[2Jil");
}

}  // namespace
}  // namespace keel::cli
