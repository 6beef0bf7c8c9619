// Human approval gates end to end: a real `keel serve` (SQLite file, HTTP over loopback, the
// CLI binary) whose approval notifications go through the outbox to a real keel-llm-sim's
// /effects endpoint. Covers approve, deny, approvers, a second decision (409), timeouts that
// approve or deny, escalation, and a crash at the timeout instant.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "test/testing/server_process.h"
#include "test/testing/sim_process.h"
#include "test/testing/test_util.h"
#include "test/testing/workflow_env.h"

namespace keel::testing {
namespace {

namespace json = boost::json;

class ApprovalTest : public WorkflowServerTest {
 protected:
  static void SetUpTestSuite() { StartWorkflowServer(); }
  static void TearDownTestSuite() { StopWorkflowServer(); }

  void SetUp() override {
    SharedServerTest::SetUp();
    ASSERT_TRUE(sim_->Reset().ok());
  }

  std::string Start(json::object payload) {
    return Str(Submit(c_, {{"intent", "approval_gate"}, {"payload", std::move(payload)}}), "/id");
  }

  // The run's approval once the run waits for it.
  json::value PendingApproval(client::HttpClient& c, const std::string& run_id) {
    json::value found;
    bool ok = WaitFor(
        [&] {
          auto r = c.Get("/v1/approvals?status=pending&run_id=" + run_id);
          if (!r.ok() || r->status != 200) return false;
          json::value list = At(Parse(r->body), "/approvals");
          if (!list.is_array() || list.as_array().empty()) return false;
          found = list.as_array()[0];
          return true;
        },
        kRunTimeoutMs);
    EXPECT_TRUE(ok) << "no pending approval for run " << run_id;
    return found;
  }

  client::Response Decide(const std::string& approval_id, const std::string& decision,
                          const std::string& by, const std::string& reason = "") {
    json::object body{{"decision", decision}, {"by", by}};
    if (!reason.empty()) body["reason"] = reason;
    auto r = c_.Post("/v1/approvals/" + approval_id + "/decision", json::serialize(body));
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : client::Response{};
  }

  json::array Audit(const std::string& approval_id) {
    json::value v = Parse(MustGet(c_, "/v1/approvals/" + approval_id).body);
    return At(v, "/audit").as_array();
  }

  static std::vector<std::string> Events(const json::array& audit) {
    std::vector<std::string> out;
    for (const auto& e : audit) out.push_back(Str(e, "/event"));
    return out;
  }

  // Notifications the webhook received, by event name.
  int64_t Notified(const std::string& event) {
    int64_t n = 0;
    for (const auto& e : Effects(*sim_).effects) {
      if (e.at("name") == "approval_webhook" && Str(json::value(e), "/args/event") == event) n++;
    }
    return n;
  }
};

TEST_F(ApprovalTest, ApprovalResumesTheRunAndIsRecordedOnce) {
  std::string id = Start({{"amount", 120}});
  json::value approval = PendingApproval(c_, id);
  std::string aid = Str(approval, "/id");
  EXPECT_EQ(Str(approval, "/step"), "review");
  EXPECT_EQ(At(approval, "/payload/amount"), json::value(120));
  EXPECT_EQ(Str(GetRun(c_, id), "/status"), "waiting");
  // People were told through the webhook, via the outbox.
  EXPECT_TRUE(WaitFor([&] { return Notified("approval.pending") == 1; }, kRunTimeoutMs));

  client::Response first = Decide(aid, "approved", "ana", "looks fine");
  ASSERT_EQ(first.status, 200) << first.body;
  json::value done = WaitTerminal(c_, id);
  ASSERT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
  EXPECT_EQ(At(done, "/result/decision/approved"), json::value(true));
  EXPECT_EQ(Str(done, "/result/decision/by"), "ana");
  EXPECT_EQ(Str(done, "/result/decision/reason"), "looks fine");
  EXPECT_EQ(Str(done, "/result/after"), "approved");

  // The same decision again changes nothing; a different one is refused and audited.
  client::Response again = Decide(aid, "approved", "ana", "looks fine");
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(At(Parse(again.body), "/existing"), json::value(true)) << again.body;
  client::Response other = Decide(aid, "denied", "ben", "too much");
  EXPECT_EQ(other.status, 409) << other.body;
  std::vector<std::string> events = Events(Audit(aid));
  EXPECT_EQ(std::count(events.begin(), events.end(), "decided"), 1);
  EXPECT_EQ(std::count(events.begin(), events.end(), "rejected"), 1);
  EXPECT_EQ(events.front(), "created");
}

TEST_F(ApprovalTest, DenialReturnsTheDecisionOrFailsARequiredGate) {
  std::string id = Start({{"amount", 5}});
  ASSERT_EQ(Decide(Str(PendingApproval(c_, id), "/id"), "denied", "ana", "no").status, 200);
  json::value done = WaitTerminal(c_, id);
  ASSERT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
  EXPECT_EQ(At(done, "/result/decision/approved"), json::value(false));
  EXPECT_EQ(Str(done, "/result/decision/decision"), "denied");

  std::string required = Start({{"amount", 5}, {"required", true}});
  ASSERT_EQ(Decide(Str(PendingApproval(c_, required), "/id"), "deny", "ana", "no").status, 200);
  json::value failed = WaitTerminal(c_, required);
  EXPECT_EQ(Str(failed, "/status"), "failed") << json::serialize(failed);
  EXPECT_EQ(Str(failed, "/error/code"), "approval_denied") << json::serialize(failed);
}

TEST_F(ApprovalTest, OnlyListedApproversMayDecide) {
  std::string id = Start({{"approvers", json::array{"ana"}}});
  std::string aid = Str(PendingApproval(c_, id), "/id");
  client::Response bob = Decide(aid, "approved", "bob");
  EXPECT_EQ(bob.status, 400) << bob.body;
  EXPECT_EQ(Str(GetRun(c_, id), "/status"), "waiting");
  EXPECT_EQ(Decide(aid, "approved", "ana").status, 200);
  EXPECT_EQ(Str(WaitTerminal(c_, id), "/status"), "succeeded");
}

TEST_F(ApprovalTest, UnknownApprovalAndBadDecisionsAreClearErrors) {
  EXPECT_EQ(Decide("no-such-approval", "approved", "ana").status, 404);
  std::string id = Start({});
  std::string aid = Str(PendingApproval(c_, id), "/id");
  client::Response bad = Decide(aid, "maybe", "ana");
  EXPECT_EQ(bad.status, 400) << bad.body;
  auto nobody = c_.Post("/v1/approvals/" + aid + "/decision", R"({"decision":"approved"})");
  ASSERT_TRUE(nobody.ok());
  EXPECT_EQ(nobody->status, 400) << nobody->body;
  ASSERT_EQ(Decide(aid, "approved", "ana").status, 200);
  WaitTerminal(c_, id);
}

TEST_F(ApprovalTest, TimeoutDeniesOrApprovesAsConfigured) {
  std::string deny = Start({{"timeout", "300ms"}, {"on_timeout", "deny"}});
  std::string approve = Start({{"timeout", "300ms"}, {"on_timeout", "approve"}});
  json::value denied = WaitTerminal(c_, deny);
  ASSERT_EQ(Str(denied, "/status"), "succeeded") << json::serialize(denied);
  EXPECT_EQ(Str(denied, "/result/decision/decision"), "denied");
  EXPECT_EQ(At(denied, "/result/decision/timed_out"), json::value(true));
  EXPECT_EQ(Str(denied, "/result/decision/by"), "keel:timeout");
  json::value approved = WaitTerminal(c_, approve);
  ASSERT_EQ(Str(approved, "/status"), "succeeded") << json::serialize(approved);
  EXPECT_EQ(At(approved, "/result/decision/approved"), json::value(true));
  EXPECT_EQ(At(approved, "/result/decision/timed_out"), json::value(true));
}

TEST_F(ApprovalTest, EscalationNotifiesAgainAndExtendsTheDeadline) {
  std::string id = Start({{"timeout", "400ms"}, {"on_timeout", "escalate"}});
  std::string aid = Str(PendingApproval(c_, id), "/id");
  ASSERT_TRUE(WaitFor(
      [&] {
        json::value a = Parse(MustGet(c_, "/v1/approvals/" + aid).body);
        return At(a, "/escalation_level") == json::value(1);
      },
      kRunTimeoutMs));
  EXPECT_EQ(Str(GetRun(c_, id), "/status"), "waiting");
  EXPECT_TRUE(WaitFor([&] { return Notified("approval.escalated") == 1; }, kRunTimeoutMs));
  // Decided by a person within the extended period.
  ASSERT_EQ(Decide(aid, "approved", "lead").status, 200);
  json::value done = WaitTerminal(c_, id);
  ASSERT_EQ(Str(done, "/status"), "succeeded");
  EXPECT_EQ(Str(done, "/result/decision/by"), "lead");
  EXPECT_EQ(At(done, "/result/decision/timed_out"), json::value(false));

  // Nobody answers after the escalation either: denied once the last period ends.
  std::string late = Start({{"timeout", "300ms"}, {"on_timeout", "escalate"}});
  json::value timed_out = WaitTerminal(c_, late);
  ASSERT_EQ(Str(timed_out, "/status"), "succeeded") << json::serialize(timed_out);
  EXPECT_EQ(Str(timed_out, "/result/decision/decision"), "denied");
  std::string late_id = Str(timed_out, "/result/decision/approval_id");
  std::vector<std::string> events = Events(Audit(late_id));
  EXPECT_EQ(std::count(events.begin(), events.end(), "escalated"), 1);
  EXPECT_EQ(std::count(events.begin(), events.end(), "decided"), 1);
}

TEST_F(ApprovalTest, CancellingTheRunWithdrawsItsPendingApproval) {
  std::string id = Start({{"amount", 9}});
  std::string aid = Str(PendingApproval(c_, id), "/id");
  MustPost(c_, "/v1/runs/" + id + "/cancel", "");
  EXPECT_EQ(Str(WaitTerminal(c_, id), "/status"), "cancelled");
  json::value a = Parse(MustGet(c_, "/v1/approvals/" + aid).body);
  EXPECT_EQ(Str(a, "/status"), "withdrawn") << json::serialize(a);
  EXPECT_EQ(Str(a, "/decided_by"), "keel:run_ended");
  auto pending = Parse(MustGet(c_, "/v1/approvals?status=pending&run_id=" + id).body);
  EXPECT_TRUE(At(pending, "/approvals").as_array().empty()) << json::serialize(pending);
  EXPECT_EQ(Decide(aid, "approved", "ana").status, 409);
}

TEST_F(ApprovalTest, CliListsAndApproves) {
  std::string id = Start({{"amount", 7}});
  std::string aid = Str(PendingApproval(c_, id), "/id");
  std::string server = " --server " + server_->base_url();
  std::string keel = ServerProcess::KeelBinary();
  CommandResult ls = RunCommand(keel + " approvals ls" + server, true);
  EXPECT_EQ(ls.exit_code, 0) << ls.output;
  EXPECT_NE(ls.output.find(aid), std::string::npos) << ls.output;
  CommandResult ok =
      RunCommand(keel + " approvals approve " + aid + " --by cli-user" + server, true);
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  json::value done = WaitTerminal(c_, id);
  EXPECT_EQ(Str(done, "/result/decision/by"), "cli-user") << json::serialize(done);
  CommandResult again =
      RunCommand(keel + " approvals deny " + aid + " --by someone" + server, true);
  EXPECT_NE(again.exit_code, 0) << again.output;
}

// The server is killed inside the transaction that applies the timeout. After the restart the
// timeout is applied once: one decision, one resumed run.
TEST(ApprovalCrashTest, CrashAtTheTimeoutInstantAppliesItOnce) {
  std::string dir = ServerProcess::MakeTempDir("keel-approval-crash-");
  SimProcess sim({.log_dir = dir});
  ASSERT_TRUE(sim.Start().ok());
  std::string config = dir + "/keel.toml";
  std::ofstream(config) << WorkflowConfig(sim);
  ServerProcess server({.data_dir = dir + "/data",
                        .workflows_dir = TestWorkflows(),
                        .extra_args = {"--config", config}});
  ::setenv("KEEL_FAILPOINTS", "store.approval_expire_commit", 1);
  Status started = server.Start();
  ::unsetenv("KEEL_FAILPOINTS");
  ASSERT_TRUE(started.ok()) << started.error().message;
  auto c = server.Client();
  std::string id = Str(Submit(c, {{"intent", "approval_gate"},
                                  {"payload", {{"timeout", "500ms"}, {"on_timeout", "approve"}}}}),
                       "/id");
  auto exited = server.WaitExit(kRunTimeoutMs);
  ASSERT_TRUE(exited.ok()) << "the failpoint did not stop the server";
  EXPECT_EQ(*exited, -9);

  ASSERT_TRUE(server.Start().ok());
  auto c2 = server.Client();
  json::value done = WaitTerminal(c2, id);
  ASSERT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done) << server.Logs();
  EXPECT_EQ(At(done, "/result/decision/timed_out"), json::value(true));
  EXPECT_EQ(At(done, "/result/decision/approved"), json::value(true));
  std::string aid = Str(done, "/result/decision/approval_id");
  json::value a = Parse(MustGet(c2, "/v1/approvals/" + aid).body);
  int decided = 0;
  json::value audit = At(a, "/audit");
  for (const auto& e : audit.as_array()) decided += Str(e, "/event") == "decided";
  EXPECT_EQ(decided, 1) << json::serialize(a);
  server.Kill();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace keel::testing
