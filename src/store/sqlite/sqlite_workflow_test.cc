// Store tests for workflows beyond one run: child runs and the terminal cascade, cancel
// requests, the outbox, approval gates (and their withdrawal when the run ends), schema
// migration 003 and the commit failpoints.

#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>

#include "base/clock.h"
#include "base/failpoint.h"
#include "model/json.h"
#include "store/sqlite/migrations.h"
#include "store/sqlite/store_test_fixture.h"

extern char** environ;

namespace keel::store::sqlite {
namespace {

class WorkflowStoreTest : public SqliteStoreTest {
 protected:
  AppendRequest Req(const std::string& run_id, int64_t epoch = 1,
                    const std::string& owner = "node-a") {
    AppendRequest req;
    req.run_id = run_id;
    req.lease_owner = owner;
    req.lease_epoch = epoch;
    return req;
  }
  static model::JournalEntry Entry(const std::string& run_id, int64_t seq,
                                   EntryKind kind = EntryKind::kStep) {
    model::JournalEntry e;
    e.run_id = run_id;
    e.seq = seq;
    e.kind = kind;
    e.name = "e" + std::to_string(seq);
    e.result_json = "null";
    return e;
  }
  static AdmitRequest Child(const std::string& id, const std::string& parent,
                            RunStatus status = RunStatus::kQueued) {
    AdmitRequest c;
    c.run.id = id;
    c.run.parent_run_id = parent;
    c.run.intent = "child_wf";
    c.run.tenant = "t1";
    c.run.payload_json = "{}";
    c.run.code_hash = "abc";
    c.run.status = status;
    if (status == RunStatus::kRunning) {
      c.run.lease_owner = "node-a";
      c.run.lease_epoch = 1;
    }
    c.run.created_at_ms = 2000;
    c.payload_hash = "ch";
    return c;
  }
  static model::OutboxIntent Intent(const std::string& key, const std::string& run_id,
                                    int64_t next_at, int64_t created_at = 1000) {
    model::OutboxIntent o;
    o.key = key;
    o.run_id = run_id;
    o.tenant = "t1";
    o.target = "charge_card";
    o.args_json = R"({"amount":5})";
    o.next_attempt_at_ms = next_at;
    o.created_at_ms = created_at;
    return o;
  }
  static model::Approval Gate(const std::string& id, const std::string& run_id,
                              const std::string& on_timeout = "deny") {
    model::Approval a;
    a.id = id;
    a.run_id = run_id;
    a.seq = 1;
    a.tenant = "t1";
    a.intent = "wf";
    a.step = "review";
    a.payload_json = R"({"amount":100})";
    a.approvers_json = R"(["alice","bob"])";
    a.escalate_to_json = R"(["boss"])";
    a.on_timeout = on_timeout;
    a.timeout_ms = 1000;
    a.deadline_at_ms = 2000;
    a.max_escalations = 1;
    a.created_at_ms = 1000;
    return a;
  }
  Status Write(AppendRequest req) {
    auto r = Sync<Ok>([&](auto cb) { store_->Append(std::move(req), cb); });
    if (!r) return r.error();
    return OkStatus();
  }
  // Admits run `id` and appends an approval gate for it as entry 1.
  void AdmitWithGate(const model::Approval& a) {
    ASSERT_TRUE(Admit(NewRun(a.run_id)).ok());
    auto req = Req(a.run_id);
    req.entries.push_back(Entry(a.run_id, 1, EntryKind::kApproval));
    req.approvals.push_back(a);
    ASSERT_TRUE(Write(std::move(req)).ok());
  }
  Result<ApprovalOutcome> Decide(const std::string& id, const std::string& decision,
                                 const std::string& who, const std::string& reason = "") {
    ApprovalDecision d;
    d.approval_id = id;
    d.decision = decision;
    d.who = who;
    d.reason = reason;
    d.now_ms = 1500;
    return Sync<ApprovalOutcome>([&](auto cb) { store_->DecideApproval(d, cb); });
  }
  Result<ApprovalExpiryOutcome> Expire(const std::string& id, int64_t now,
                                       const std::string& notify_target = "") {
    ApprovalExpiry e;
    e.approval_id = id;
    e.now_ms = now;
    e.notify_target = notify_target;
    e.notify_max_attempts = 4;
    return Sync<ApprovalExpiryOutcome>([&](auto cb) { store_->ExpireApproval(e, cb); });
  }
  std::vector<std::string> AuditEvents(const std::string& id) {
    std::vector<std::string> names;
    auto audit = store_->ApprovalAudit(id);
    EXPECT_TRUE(audit.ok()) << audit.error().message;
    if (audit.ok())
      for (const auto& e : *audit) names.push_back(e.event);
    return names;
  }
  // Parks run `id` (leased by node-a at `epoch`) waiting for signal `name` as entry `seq`.
  void Park(const std::string& id, int64_t epoch, int64_t seq, const std::string& name) {
    SignalWaitRequest w{id, "node-a", epoch, seq, name, 0, 1000, {}};
    auto out = Sync<SignalWaitOutcome>([&](auto cb) { store_->WaitForSignal(w, cb); });
    ASSERT_TRUE(out.ok()) << out.error().message;
    ASSERT_TRUE(out->parked);
  }
  static boost::json::value Json(const std::string& text) { return boost::json::parse(text); }
};

// --- child runs, the terminal cascade, cancel requests ---

TEST_F(WorkflowStoreTest, AppendInsertsChildrenIntentsAndGatesOnce) {
  ASSERT_TRUE(Admit(NewRun("p")).ok());
  auto first = Req("p");
  first.entries.push_back(Entry("p", 1, EntryKind::kChild));
  first.entries.back().branch = "1.2";
  first.children.push_back(Child("p-c1", "p"));
  first.outbox.push_back(Intent("p:1", "p", 5000));
  first.approvals.push_back(Gate("ap-1", "p"));
  ASSERT_TRUE(Write(first).ok());

  // The same rows again (a replayed step), with contents that would show if they were
  // written: nothing of them changes and no second audit event appears.
  auto again = Req("p");
  again.entries.push_back(Entry("p", 2));
  again.children.push_back(Child("p-c1", "p", RunStatus::kRunning));
  again.outbox.push_back(Intent("p:1", "p", 9000));
  auto gate = Gate("ap-1", "p");
  gate.step = "changed";
  again.approvals.push_back(gate);
  ASSERT_TRUE(Write(again).ok());

  auto children = store_->ListChildren("p");
  ASSERT_TRUE(children.ok());
  ASSERT_EQ(children->size(), 1u);
  EXPECT_EQ((*children)[0].id, "p-c1");
  EXPECT_EQ((*children)[0].parent_run_id, "p");
  EXPECT_EQ((*children)[0].status, RunStatus::kQueued);
  EXPECT_EQ((*children)[0].intent, "child_wf");
  EXPECT_EQ(store_->GetRun("p")->parent_run_id, "");

  auto intents = store_->ListOutbox({});
  ASSERT_TRUE(intents.ok());
  ASSERT_EQ(intents->size(), 1u);
  EXPECT_EQ((*intents)[0].next_attempt_at_ms, 5000);
  EXPECT_EQ((*intents)[0].status, "pending");
  EXPECT_EQ((*intents)[0].args_json, R"({"amount":5})");

  auto approvals = store_->ListApprovals({});
  ASSERT_TRUE(approvals.ok());
  ASSERT_EQ(approvals->size(), 1u);
  EXPECT_EQ((*approvals)[0].step, "review");
  EXPECT_EQ(AuditEvents("ap-1"), std::vector<std::string>{"created"});

  auto journal = store_->ReadJournal("p", 0, 10);
  ASSERT_EQ(journal->size(), 2u);
  EXPECT_EQ((*journal)[0].kind, EntryKind::kChild);
  EXPECT_EQ((*journal)[0].branch, "1.2");
  EXPECT_EQ((*journal)[1].branch, "");
}

TEST_F(WorkflowStoreTest, ChildMustNameItsParentAndNothingIsWrittenOtherwise) {
  ASSERT_TRUE(Admit(NewRun("p")).ok());
  auto req = Req("p");
  req.entries.push_back(Entry("p", 1));
  req.children.push_back(Child("c", "someone-else"));
  Status st = Write(req);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kInvalidArgument);
  EXPECT_NE(st.error().message.find("names parent \"someone-else\""), std::string::npos)
      << st.error().message;
  EXPECT_EQ(store_->ReadJournal("p", 0, 10)->size(), 0u);
  EXPECT_EQ(store_->GetRun("c").error().code, Errc::kNotFound);

  auto bad_gate = Req("p");
  auto gate = Gate("ap", "p");
  gate.on_timeout = "shrug";
  bad_gate.approvals.push_back(gate);
  st = Write(bad_gate);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("on_timeout"), std::string::npos) << st.error().message;
}

TEST_F(WorkflowStoreTest, FinishCancelsEveryLiveDescendant) {
  ASSERT_TRUE(Admit(NewRun("root")).ok());
  ASSERT_TRUE(Admit(NewRun("bystander")).ok());
  auto req = Req("root");
  req.children.push_back(Child("c1", "root", RunStatus::kRunning));
  req.children.push_back(Child("c2", "root", RunStatus::kRunning));
  ASSERT_TRUE(Write(req).ok());
  auto grand = Req("c1");
  grand.children.push_back(Child("g1", "c1"));
  ASSERT_TRUE(Write(grand).ok());
  // c2 already finished: it keeps its outcome.
  Transition ok;
  ok.status = RunStatus::kSucceeded;
  ok.result_json = "1";
  auto end_c2 = Req("c2");
  end_c2.transition = ok;
  ASSERT_TRUE(Write(end_c2).ok());

  Transition cancel;
  cancel.status = RunStatus::kCancelled;
  cancel.error_code = "cancelled";
  auto root = Sync<model::RunRecord>([&](auto cb) { store_->Finish("root", cancel, cb); });
  ASSERT_TRUE(root.ok()) << root.error().message;

  auto c1 = store_->GetRun("c1");
  EXPECT_EQ(c1->status, RunStatus::kCancelled);
  EXPECT_EQ(c1->error_code, "parent_cancelled");
  EXPECT_NE(c1->error_message.find("root"), std::string::npos) << c1->error_message;
  EXPECT_EQ(c1->lease_owner, "");
  auto g1 = store_->GetRun("g1");
  EXPECT_EQ(g1->status, RunStatus::kCancelled);
  EXPECT_EQ(g1->error_code, "parent_cancelled");
  EXPECT_NE(g1->error_message.find("c1"), std::string::npos) << g1->error_message;
  EXPECT_EQ(store_->GetRun("c2")->status, RunStatus::kSucceeded);
  EXPECT_EQ(store_->GetRun("bystander")->status, RunStatus::kRunning);
  // The executor of a cancelled child finds out at its next write.
  EXPECT_EQ(Append("c1", 1, {1}).error().code, Errc::kAlreadyFinished);
}

TEST_F(WorkflowStoreTest, TerminalAppendCancelsChildrenAsParentFinished) {
  ASSERT_TRUE(Admit(NewRun("p")).ok());
  auto req = Req("p");
  req.entries.push_back(Entry("p", 1, EntryKind::kChild));
  req.children.push_back(Child("c", "p"));
  ASSERT_TRUE(Write(req).ok());
  auto grand = Child("g", "c");
  // A queued child cannot append; give the grandchild to c by inserting it as c's Append
  // would once c runs.
  auto acq = Sync<AcquireOutcome>([&](auto cb) { store_->Acquire("c", "node-a", 99999, cb); });
  ASSERT_TRUE(acq.ok());
  auto c_req = Req("c", acq->run.lease_epoch);
  c_req.children.push_back(grand);
  ASSERT_TRUE(Write(c_req).ok());

  Transition failed;
  failed.status = RunStatus::kFailed;
  failed.error_code = "step_failed";
  auto end = Req("p");
  end.entries.push_back(Entry("p", 2));
  end.transition = failed;
  ASSERT_TRUE(Write(end).ok());

  auto c = store_->GetRun("c");
  EXPECT_EQ(c->status, RunStatus::kCancelled);
  EXPECT_EQ(c->error_code, "parent_finished");
  EXPECT_NE(c->error_message.find("parent run p finished (failed)"), std::string::npos)
      << c->error_message;
  EXPECT_EQ(store_->GetRun("g")->status, RunStatus::kCancelled);
  EXPECT_EQ(store_->GetRun("g")->error_code, "parent_cancelled");
}

TEST_F(WorkflowStoreTest, RequestCancelQueuesWaitingRunsAndRefusesFinishedOnes) {
  ASSERT_TRUE(Admit(NewRun("w")).ok());
  Park("w", 1, 1, "go");
  auto w = Sync<model::RunRecord>([&](auto cb) { store_->RequestCancel("w", cb); });
  ASSERT_TRUE(w.ok()) << w.error().message;
  EXPECT_TRUE(w->cancel_requested);
  EXPECT_EQ(w->status, RunStatus::kQueued);
  EXPECT_EQ(w->wait_reason, "");
  EXPECT_EQ(w->wake_at_ms, 0);
  EXPECT_TRUE(store_->GetRun("w")->cancel_requested);

  ASSERT_TRUE(Admit(NewRun("r")).ok());
  auto r = Sync<model::RunRecord>([&](auto cb) { store_->RequestCancel("r", cb); });
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->cancel_requested);
  EXPECT_EQ(r->status, RunStatus::kRunning);
  EXPECT_EQ(r->lease_owner, "node-a");  // its executor keeps going and compensates

  Transition done;
  done.status = RunStatus::kSucceeded;
  ASSERT_TRUE(Append("r", 1, {}, done).ok());
  auto finished = Sync<model::RunRecord>([&](auto cb) { store_->RequestCancel("r", cb); });
  EXPECT_EQ(finished.error().code, Errc::kAlreadyFinished);
  auto missing = Sync<model::RunRecord>([&](auto cb) { store_->RequestCancel("nope", cb); });
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
}

// --- outbox ---

TEST_F(WorkflowStoreTest, OutboxDueNextUpdateAndList) {
  ASSERT_TRUE(Admit(NewRun("r")).ok());
  ASSERT_TRUE(Admit(NewRun("s")).ok());
  auto req = Req("r");
  req.outbox.push_back(Intent("r:3", "r", 3000));
  req.outbox.push_back(Intent("r:1", "r", 1000));
  req.outbox.push_back(Intent("r:2", "r", 2000));
  ASSERT_TRUE(Write(req).ok());
  auto other = Req("s");
  auto notice = Intent("s:9", "s", 0, 1500);  // due at once: at its creation
  notice.kind = "notify";
  notice.tenant = "t2";
  other.outbox.push_back(notice);
  ASSERT_TRUE(Write(other).ok());

  auto due = store_->DueOutbox(2000, 10);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->size(), 3u);
  EXPECT_EQ((*due)[0].key, "r:1");
  EXPECT_EQ((*due)[1].key, "s:9");
  EXPECT_EQ((*due)[1].next_attempt_at_ms, 1500);
  EXPECT_EQ((*due)[2].key, "r:2");
  EXPECT_EQ(store_->DueOutbox(2000, 1)->size(), 1u);
  EXPECT_EQ(*store_->NextOutboxAttempt(), 1000);

  OutboxUpdate retry{"r:1", "pending", 1, 4000, "HTTP 503", "", 2100};
  auto r1 = Sync<model::OutboxIntent>([&](auto cb) { store_->UpdateOutbox(retry, cb); });
  ASSERT_TRUE(r1.ok()) << r1.error().message;
  EXPECT_EQ(r1->attempts, 1);
  EXPECT_EQ(r1->next_attempt_at_ms, 4000);
  EXPECT_EQ(r1->updated_at_ms, 2100);
  EXPECT_EQ(store_->GetOutbox("r:1")->last_error, "HTTP 503");
  EXPECT_EQ(*store_->NextOutboxAttempt(), 1500);

  for (const char* key : {"r:2", "r:3", "s:9"}) {
    OutboxUpdate ok{key, "delivered", 1, 0, "", R"({"ok":true})", 2200};
    ASSERT_TRUE(Sync<model::OutboxIntent>([&](auto cb) { store_->UpdateOutbox(ok, cb); }).ok());
  }
  OutboxUpdate give_up{"r:1", "failed", 2, 0, "HTTP 500", R"({"code":"tool_error"})", 2300};
  ASSERT_TRUE(Sync<model::OutboxIntent>([&](auto cb) { store_->UpdateOutbox(give_up, cb); }).ok());
  EXPECT_TRUE(store_->DueOutbox(99999, 10)->empty());
  EXPECT_EQ(*store_->NextOutboxAttempt(), 0);
  EXPECT_EQ(store_->GetOutbox("r:2")->result_json, R"({"ok":true})");

  // An outcome is final: the same again is accepted, a different one is a conflict.
  auto same = Sync<model::OutboxIntent>([&](auto cb) { store_->UpdateOutbox(give_up, cb); });
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->status, "failed");
  OutboxUpdate flip{"r:1", "delivered", 3, 0, "", "{}", 2400};
  auto conflict = Sync<model::OutboxIntent>([&](auto cb) { store_->UpdateOutbox(flip, cb); });
  EXPECT_EQ(conflict.error().code, Errc::kConflict);
  EXPECT_EQ(store_->GetOutbox("r:1")->status, "failed");
  OutboxUpdate unknown{"nope", "delivered", 1, 0, "", "{}", 1};
  EXPECT_EQ(
      Sync<model::OutboxIntent>([&](auto cb) { store_->UpdateOutbox(unknown, cb); }).error().code,
      Errc::kNotFound);
  OutboxUpdate bad{"r:2", "sent", 1, 0, "", "{}", 1};
  auto bad_status = Sync<model::OutboxIntent>([&](auto cb) { store_->UpdateOutbox(bad, cb); });
  EXPECT_EQ(bad_status.error().code, Errc::kInvalidArgument);
  EXPECT_NE(bad_status.error().message.find("\"sent\""), std::string::npos);
  EXPECT_EQ(store_->GetOutbox("nope").error().code, Errc::kNotFound);

  // Listing: filters, key order, pagination after a key, and the limit's bounds.
  auto delivered = store_->ListOutbox({.status = "delivered"});
  ASSERT_EQ(delivered->size(), 3u);
  EXPECT_EQ((*delivered)[0].key, "r:2");
  EXPECT_EQ(store_->ListOutbox({.run_id = "s"})->size(), 1u);
  EXPECT_EQ(store_->ListOutbox({.tenant = "t2"})->front().key, "s:9");
  auto page = store_->ListOutbox({.after_key = "r:2", .limit = 1});
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].key, "r:3");
  EXPECT_EQ(store_->ListOutbox({.limit = 0})->size(), 1u);
  EXPECT_EQ(store_->ListOutbox({.limit = 100000})->size(), 4u);
  auto bad_filter = store_->ListOutbox({.status = "lost"});
  EXPECT_EQ(bad_filter.error().code, Errc::kInvalidArgument);
}

// --- approvals ---

TEST_F(WorkflowStoreTest, DecisionIsRecordedOnceAndADifferentOneIsRejected) {
  AdmitWithGate(Gate("ap", "r"));
  auto first = Decide("ap", "approved", "alice", "looks fine");
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_FALSE(first->existing);
  EXPECT_FALSE(first->woke);  // the run is running, not waiting for it
  EXPECT_EQ(first->approval.status, "approved");
  EXPECT_EQ(first->approval.decided_by, "alice");
  EXPECT_EQ(first->approval.decided_at_ms, 1500);

  auto same = Decide("ap", "approved", "bob");
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->existing);
  EXPECT_EQ(same->approval.decided_by, "alice");

  auto other = Decide("ap", "denied", "bob", "too much");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, Errc::kConflict);
  EXPECT_NE(other.error().message.find("already approved by alice"), std::string::npos)
      << other.error().message;
  EXPECT_EQ(store_->GetApproval("ap")->status, "approved");

  auto audit = store_->ApprovalAudit("ap");
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 3u);
  EXPECT_EQ((*audit)[0].event, "created");
  EXPECT_EQ((*audit)[1].event, "decided");
  EXPECT_EQ((*audit)[1].who, "alice");
  EXPECT_EQ(Json((*audit)[1].detail_json),
            Json(R"({"decision":"approved","reason":"looks fine","timed_out":false})"));
  EXPECT_EQ((*audit)[2].event, "rejected");
  EXPECT_EQ((*audit)[2].who, "bob");
  EXPECT_EQ(Json((*audit)[2].detail_json).at("decision").as_string(), "denied");

  // The decision reached the run as a signal, consumable by its next wait.
  SignalWaitRequest w{"r", "node-a", 1, 2, "$approval:ap", 0, 1600, {}};
  auto taken = Sync<SignalWaitOutcome>([&](auto cb) { store_->WaitForSignal(w, cb); });
  ASSERT_TRUE(taken.ok());
  ASSERT_FALSE(taken->parked);
  auto signal = Json(taken->entry.result_json).at("signal");
  EXPECT_EQ(signal, boost::json::value(model::ApprovalDecisionJson(first->approval)));
  EXPECT_TRUE(signal.at("approved").as_bool());
}

TEST_F(WorkflowStoreTest, OnlyApproversMayDecide) {
  AdmitWithGate(Gate("ap", "r", "escalate"));
  auto stranger = Decide("ap", "approved", "mallory");
  ASSERT_FALSE(stranger.ok());
  EXPECT_EQ(stranger.error().code, Errc::kInvalidArgument);
  EXPECT_NE(stranger.error().message.find("is not among the approvers"), std::string::npos)
      << stranger.error().message;
  auto bad = Decide("ap", "maybe", "alice");
  EXPECT_EQ(bad.error().code, Errc::kInvalidArgument);
  EXPECT_NE(bad.error().message.find("\"maybe\""), std::string::npos) << bad.error().message;
  EXPECT_EQ(store_->GetApproval("ap")->status, "pending");
  EXPECT_EQ(AuditEvents("ap"), std::vector<std::string>{"created"});

  // Escalation notifies escalate_to; it does not make them approvers.
  ASSERT_TRUE(Expire("ap", 2000)->escalated);
  EXPECT_EQ(Decide("ap", "approved", "boss").error().code, Errc::kInvalidArgument);
  auto bob = Decide("ap", "denied", "bob");
  ASSERT_TRUE(bob.ok()) << bob.error().message;
  EXPECT_EQ(bob->approval.status, "denied");

  // An empty approvers list lets anyone decide.
  auto open = Gate("ap2", "r2");
  open.approvers_json = "[]";
  AdmitWithGate(open);
  EXPECT_TRUE(Decide("ap2", "approved", "anyone").ok());
}

TEST_F(WorkflowStoreTest, DecisionWakesARunWaitingForIt) {
  AdmitWithGate(Gate("ap", "r"));
  Park("r", 1, 2, "$approval:ap");
  auto out = Decide("ap", "denied", "bob", "no budget");
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_TRUE(out->woke);
  EXPECT_EQ(store_->GetRun("r")->status, RunStatus::kQueued);

  auto acq = Sync<AcquireOutcome>([&](auto cb) { store_->Acquire("r", "node-b", 99999, cb); });
  ASSERT_TRUE(acq.ok());
  SignalWaitRequest w{"r", "node-b", acq->run.lease_epoch, 2, "$approval:ap", 0, 1600, {}};
  auto taken = Sync<SignalWaitOutcome>([&](auto cb) { store_->WaitForSignal(w, cb); });
  ASSERT_TRUE(taken.ok()) << taken.error().message;
  ASSERT_FALSE(taken->parked);
  auto signal = Json(taken->entry.result_json).at("signal");
  EXPECT_EQ(signal.at("decision").as_string(), "denied");
  EXPECT_EQ(signal.at("by").as_string(), "bob");
  EXPECT_EQ(signal.at("reason").as_string(), "no budget");
}

TEST_F(WorkflowStoreTest, ExpiryEscalatesThenDecidesByTimeout) {
  AdmitWithGate(Gate("ap", "r", "escalate"));
  Park("r", 1, 2, "$approval:ap");

  auto early = Expire("ap", 1999, "pager");
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(early->escalated);
  EXPECT_FALSE(early->decided);
  EXPECT_EQ(early->approval.escalation_level, 0);

  auto first = Expire("ap", 2000, "pager");
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_TRUE(first->escalated);
  EXPECT_FALSE(first->decided);
  EXPECT_FALSE(first->woke);
  EXPECT_EQ(first->approval.escalation_level, 1);
  EXPECT_EQ(first->approval.deadline_at_ms, 3000);
  EXPECT_EQ(store_->GetApproval("ap")->deadline_at_ms, 3000);
  auto deadlines = store_->ApprovalDeadlines();
  ASSERT_EQ(deadlines->size(), 1u);
  EXPECT_EQ((*deadlines)[0], std::make_pair(std::string("ap"), int64_t{3000}));

  auto notice = store_->GetOutbox("ap:escalated:1");
  ASSERT_TRUE(notice.ok()) << notice.error().message;
  EXPECT_EQ(notice->kind, "notify");
  EXPECT_EQ(notice->target, "pager");
  EXPECT_EQ(notice->max_attempts, 4);
  EXPECT_EQ(notice->run_id, "r");
  auto args = Json(notice->args_json);
  EXPECT_EQ(args.at("event").as_string(), "approval.escalated");
  EXPECT_EQ(args.at("approval").at("escalation_level").as_int64(), 1);
  // Its delivery joins the audit trail.
  OutboxUpdate sent{"ap:escalated:1", "delivered", 1, 0, "", "{}", 2100};
  ASSERT_TRUE(Sync<model::OutboxIntent>([&](auto cb) { store_->UpdateOutbox(sent, cb); }).ok());

  auto last = Expire("ap", 3000, "pager");
  ASSERT_TRUE(last.ok()) << last.error().message;
  EXPECT_FALSE(last->escalated);
  EXPECT_TRUE(last->decided);
  EXPECT_TRUE(last->woke);
  EXPECT_EQ(last->approval.status, "denied");
  EXPECT_EQ(last->approval.decided_by, "keel:timeout");
  EXPECT_TRUE(last->approval.timed_out);
  EXPECT_EQ(store_->GetRun("r")->status, RunStatus::kQueued);
  EXPECT_TRUE(store_->ApprovalDeadlines()->empty());
  EXPECT_EQ(store_->ListOutbox({})->size(), 1u);  // no notice for the final timeout

  auto audit = store_->ApprovalAudit("ap");
  ASSERT_TRUE(audit.ok());
  std::vector<std::string> events;
  for (const auto& e : *audit) events.push_back(e.event);
  EXPECT_EQ(events, (std::vector<std::string>{"created", "escalated", "notified", "decided"}));
  EXPECT_EQ(Json((*audit)[1].detail_json), Json(R"({"level":1,"deadline_at_ms":3000})"));
  EXPECT_EQ((*audit)[2].who, "pager");
  EXPECT_TRUE(Json((*audit)[3].detail_json).at("timed_out").as_bool());
}

TEST_F(WorkflowStoreTest, ExpiryApprovesWhenToldTo) {
  AdmitWithGate(Gate("ap", "r", "approve"));
  auto out = Expire("ap", 2500);
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->decided);
  EXPECT_EQ(out->approval.status, "approved");
  EXPECT_EQ(out->approval.escalation_level, 0);
}

TEST_F(WorkflowStoreTest, ExpiryAfterADecisionChangesNothing) {
  AdmitWithGate(Gate("ap", "r", "escalate"));
  ASSERT_TRUE(Decide("ap", "approved", "alice").ok());
  auto out = Expire("ap", 5000, "pager");
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->escalated);
  EXPECT_FALSE(out->decided);
  EXPECT_EQ(out->approval.status, "approved");
  EXPECT_EQ(out->approval.escalation_level, 0);
  EXPECT_EQ(AuditEvents("ap"), (std::vector<std::string>{"created", "decided"}));
  EXPECT_TRUE(store_->ListOutbox({})->empty());
}

TEST_F(WorkflowStoreTest, ApprovalsAreListedNewestFirstWithFilters) {
  ASSERT_TRUE(Admit(NewRun("r")).ok());
  auto req = Req("r");
  for (const char* id : {"ap-1", "ap-2", "ap-3"}) req.approvals.push_back(Gate(id, "r"));
  req.approvals.back().tenant = "t2";
  ASSERT_TRUE(Write(req).ok());
  ASSERT_TRUE(Decide("ap-2", "approved", "alice").ok());

  auto all = store_->ListApprovals({});
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].id, "ap-3");
  auto pending = store_->ListApprovals({.status = "pending"});
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ(store_->ListApprovals({.tenant = "t2"})->front().id, "ap-3");
  EXPECT_EQ(store_->ListApprovals({.run_id = "other"})->size(), 0u);
  auto page = store_->ListApprovals({.before_id = "ap-3", .limit = 1});
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].id, "ap-2");
  EXPECT_EQ(store_->ListApprovals({.limit = -5})->size(), 1u);
  EXPECT_EQ(store_->ListApprovals({.status = "maybe"}).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(store_->GetApproval("nope").error().code, Errc::kNotFound);
  EXPECT_EQ(store_->ApprovalAudit("nope").error().code, Errc::kNotFound);
  auto deadlines = store_->ApprovalDeadlines();
  EXPECT_EQ(deadlines->size(), 2u);  // the decided one has no timer any more
}

TEST_F(WorkflowStoreTest, FinishWithdrawsPendingApprovalsOfTheRunAndItsChildren) {
  ASSERT_TRUE(Admit(NewRun("p")).ok());
  auto req = Req("p");
  req.approvals.push_back(Gate("ap-p", "p"));
  req.approvals.push_back(Gate("ap-p-decided", "p"));
  req.children.push_back(Child("c", "p", RunStatus::kRunning));
  ASSERT_TRUE(Write(req).ok());
  auto child = Req("c");
  child.approvals.push_back(Gate("ap-c", "c"));
  ASSERT_TRUE(Write(child).ok());
  AdmitWithGate(Gate("ap-other", "other"));
  ASSERT_TRUE(Decide("ap-p-decided", "approved", "alice", "fine").ok());

  Transition cancel;
  cancel.status = RunStatus::kCancelled;
  cancel.error_code = "cancelled";
  auto p = Sync<model::RunRecord>([&](auto cb) { store_->Finish("p", cancel, cb); });
  ASSERT_TRUE(p.ok()) << p.error().message;
  ASSERT_EQ(store_->GetRun("c")->status, RunStatus::kCancelled);

  // Withdrawn in the transaction that ended the run: stamped with the same time.
  auto ap = store_->GetApproval("ap-p");
  ASSERT_TRUE(ap.ok());
  EXPECT_EQ(ap->status, "withdrawn");
  EXPECT_EQ(ap->decided_by, "keel:run_ended");
  EXPECT_EQ(ap->reason, "the run ended cancelled");
  EXPECT_EQ(ap->decided_at_ms, p->updated_at_ms);
  EXPECT_FALSE(ap->timed_out);
  auto ap_c = store_->GetApproval("ap-c");
  EXPECT_EQ(ap_c->status, "withdrawn");
  EXPECT_EQ(ap_c->reason, "the run ended cancelled");
  EXPECT_EQ(ap_c->decided_at_ms, p->updated_at_ms);

  auto audit = store_->ApprovalAudit("ap-c");
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 2u);
  EXPECT_EQ((*audit)[0].event, "created");
  EXPECT_EQ((*audit)[1].event, "withdrawn");
  EXPECT_EQ((*audit)[1].who, "keel:run_ended");
  EXPECT_EQ((*audit)[1].at_ms, p->updated_at_ms);
  EXPECT_EQ(Json((*audit)[1].detail_json), Json(R"({"run_id":"c","run_status":"cancelled"})"));
  EXPECT_EQ(AuditEvents("ap-p"), (std::vector<std::string>{"created", "withdrawn"}));

  // A decision already made stands; another run's approval is not touched.
  auto decided = store_->GetApproval("ap-p-decided");
  EXPECT_EQ(decided->status, "approved");
  EXPECT_EQ(decided->decided_by, "alice");
  EXPECT_EQ(decided->reason, "fine");
  EXPECT_EQ(AuditEvents("ap-p-decided"), (std::vector<std::string>{"created", "decided"}));
  EXPECT_EQ(store_->GetApproval("ap-other")->status, "pending");

  auto pending = store_->ListApprovals({.status = "pending"});
  ASSERT_TRUE(pending.ok()) << pending.error().message;
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].id, "ap-other");
  auto withdrawn = store_->ListApprovals({.status = "withdrawn"});
  ASSERT_TRUE(withdrawn.ok()) << withdrawn.error().message;
  ASSERT_EQ(withdrawn->size(), 2u);
  EXPECT_EQ((*withdrawn)[0].id, "ap-p");
  EXPECT_EQ((*withdrawn)[1].id, "ap-c");
  auto deadlines = store_->ApprovalDeadlines();
  ASSERT_EQ(deadlines->size(), 1u);
  EXPECT_EQ((*deadlines)[0].first, "ap-other");
}

TEST_F(WorkflowStoreTest, WithdrawnApprovalRefusesDecisionsAndIgnoresItsTimer) {
  AdmitWithGate(Gate("ap", "r"));
  Transition failed;
  failed.status = RunStatus::kFailed;
  failed.error_code = "step_failed";
  ASSERT_TRUE(Append("r", 1, {2}, failed).ok());  // a terminal Append withdraws too
  auto ap = store_->GetApproval("ap");
  ASSERT_EQ(ap->status, "withdrawn");
  EXPECT_EQ(ap->reason, "the run ended failed");

  auto late = Decide("ap", "approved", "alice", "sorry, was away");
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, Errc::kConflict);
  EXPECT_EQ(late.error().message,
            "approval ap was withdrawn at " + FormatUtcMs(ap->decided_at_ms) +
                ": the run ended failed (run r); it can no longer be approved")
      << late.error().message;
  auto audit = store_->ApprovalAudit("ap");
  ASSERT_EQ(audit->size(), 3u);
  EXPECT_EQ((*audit)[2].event, "rejected");
  EXPECT_EQ((*audit)[2].who, "alice");
  EXPECT_EQ(Json((*audit)[2].detail_json).at("status").as_string(), "withdrawn");

  // Its timer may still fire (it was scheduled before the run ended): nothing changes.
  auto expired = Expire("ap", 5000, "pager");
  ASSERT_TRUE(expired.ok()) << expired.error().message;
  EXPECT_FALSE(expired->escalated);
  EXPECT_FALSE(expired->decided);
  EXPECT_FALSE(expired->woke);
  EXPECT_EQ(expired->approval.status, "withdrawn");
  EXPECT_EQ(store_->GetApproval("ap")->decided_by, "keel:run_ended");
  EXPECT_EQ(AuditEvents("ap"), (std::vector<std::string>{"created", "withdrawn", "rejected"}));
  EXPECT_TRUE(store_->ListOutbox({})->empty());
  EXPECT_TRUE(store_->ApprovalDeadlines()->empty());
}

TEST_F(WorkflowStoreTest, AppendRefusesAWithdrawnApproval) {
  ASSERT_TRUE(Admit(NewRun("r")).ok());
  auto req = Req("r");
  auto gate = Gate("ap", "r");
  gate.status = "withdrawn";
  req.approvals.push_back(gate);
  Status st = Write(req);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kInvalidArgument);
  EXPECT_NE(st.error().message.find("status must be pending"), std::string::npos)
      << st.error().message;
  EXPECT_EQ(store_->GetApproval("ap").error().code, Errc::kNotFound);
}

// --- schema ---

TEST_F(WorkflowStoreTest, MigrationFromVersion2KeepsData) {
  store_.reset();
  std::string path = dir_ + "/v2.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  for (const Migration& m : Migrations()) {
    if (m.version > 2) break;
    ASSERT_EQ(sqlite3_exec(db, m.sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << m.name;
  }
  const char* rows =
      "PRAGMA user_version=2;"
      "INSERT INTO runs (id, intent, tenant, payload, payload_hash, code_hash, status, "
      "wait_reason, created_at, updated_at, tools_used) VALUES "
      "('old', 'wf', 't1', '{}', 'h', 'c', 'waiting', 'signal:go', 10, 10, 3);"
      "INSERT INTO journal (run_id, seq, kind, name, request_hash, result, created_at, request) "
      "VALUES ('old', 1, 'tool', 'search', 'x', '{\"result\":1}', 10, '{\"q\":1}');";
  ASSERT_EQ(sqlite3_exec(db, rows, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);

  SqliteOptions o;
  o.path = path;
  o.metrics = &metrics_;
  auto opened = SqliteStore::Open(o);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  store_ = std::move(*opened);
  auto run = store_->GetRun("old");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status, RunStatus::kWaiting);
  EXPECT_EQ(run->tools_used, 3);
  EXPECT_EQ(run->parent_run_id, "");
  EXPECT_FALSE(run->cancel_requested);
  auto journal = store_->ReadJournal("old", 0, 10);
  ASSERT_EQ(journal->size(), 1u);
  EXPECT_EQ((*journal)[0].request_json, "{\"q\":1}");
  EXPECT_EQ((*journal)[0].branch, "");
  // The new tables work on the upgraded file.
  auto w = Sync<model::RunRecord>([&](auto cb) { store_->RequestCancel("old", cb); });
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->status, RunStatus::kQueued);
  EXPECT_TRUE(store_->ListOutbox({})->empty());
  EXPECT_TRUE(store_->ListApprovals({})->empty());
  EXPECT_EQ(*store_->IntegrityCheck(), "ok");
}

TEST_F(WorkflowStoreTest, ChildAndCascadeQueriesUseThePartialIndex) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/keel.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "EXPLAIN QUERY PLAN SELECT id FROM runs WHERE parent_run_id = 'x' "
                               "AND parent_run_id != '' ORDER BY created_at, id",
                               -1, &st, nullptr),
            SQLITE_OK);
  std::string plan;
  while (sqlite3_step(st) == SQLITE_ROW) {
    plan += reinterpret_cast<const char*>(sqlite3_column_text(st, 3));
    plan += "\n";
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  EXPECT_NE(plan.find("runs_children"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;
}

// --- commit failpoints ---

// Starts this test binary again as a child process that runs only StoreCrashChild (below)
// on the database `db` with `op`, and returns its wait status.
int RunCrashChild(const std::string& db, const std::string& op, const std::string& failpoints) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view v(*e);
    if (!v.starts_with("KEEL_FAILPOINTS=") && !v.starts_with("KEEL_CRASH_")) env.emplace_back(v);
  }
  env.push_back("KEEL_CRASH_DB=" + db);
  env.push_back("KEEL_CRASH_OP=" + op);
  if (!failpoints.empty()) env.push_back("KEEL_FAILPOINTS=" + failpoints);
  std::vector<std::string> args{"/proc/self/exe", "--gtest_filter=StoreCrashChild.*",
                                "--gtest_also_run_disabled_tests"};
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), envp.data()) != 0) {
    return -1;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

// Run only as the child of the failpoint tests: the DISABLED_ prefix keeps it out of a
// normal run. It reports the outcome through its exit: 0 if the op committed.
TEST(StoreCrashChild, DISABLED_ApplyOp) {
  const char* db = std::getenv("KEEL_CRASH_DB");
  const char* op = std::getenv("KEEL_CRASH_OP");
  ASSERT_TRUE(db && op);
  SqliteOptions o;
  o.path = db;
  auto store = SqliteStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.error().message;
  if (std::string(op) == "outbox") {
    OutboxUpdate u{"r:1", "delivered", 1, 0, "", R"({"ok":true})", 5000};
    auto r = Sync<model::OutboxIntent>([&](auto cb) { (*store)->UpdateOutbox(u, cb); });
    ASSERT_TRUE(r.ok()) << r.error().message;
  } else {
    ApprovalExpiry e{"ap", 2000, "pager", 3};
    auto r = Sync<ApprovalExpiryOutcome>([&](auto cb) { (*store)->ExpireApproval(e, cb); });
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_TRUE(r->escalated);
  }
}

TEST_F(WorkflowStoreTest, KillAtOutboxOutcomeCommitLosesOnlyTheOutcome) {
  ASSERT_TRUE(Admit(NewRun("r")).ok());
  auto req = Req("r");
  req.entries.push_back(Entry("r", 1, EntryKind::kOutbox));
  req.outbox.push_back(Intent("r:1", "r", 1000));
  ASSERT_TRUE(Write(req).ok());
  store_.reset();
  std::string db = dir_ + "/keel.db";

  int killed = RunCrashChild(db, "outbox", "store.outbox_outcome_commit");
  ASSERT_TRUE(WIFSIGNALED(killed) && WTERMSIG(killed) == SIGKILL) << "wait status " << killed;
  store_ = Open();
  auto intent = store_->GetOutbox("r:1");
  ASSERT_TRUE(intent.ok());
  EXPECT_EQ(intent->status, "pending");  // delivered again after the restart, same key
  EXPECT_EQ(intent->attempts, 0);
  EXPECT_EQ(store_->ReadJournal("r", 0, 10)->size(), 1u);
  store_.reset();

  // Without the failpoint the same child commits: the kill is what lost the outcome.
  int clean = RunCrashChild(db, "outbox", "");
  ASSERT_TRUE(WIFEXITED(clean) && WEXITSTATUS(clean) == 0) << "wait status " << clean;
  store_ = Open();
  EXPECT_EQ(store_->GetOutbox("r:1")->status, "delivered");
}

TEST_F(WorkflowStoreTest, KillAtApprovalExpireCommitLeavesItPending) {
  AdmitWithGate(Gate("ap", "r", "escalate"));
  store_.reset();
  std::string db = dir_ + "/keel.db";

  int killed = RunCrashChild(db, "expire", "store.approval_expire_commit");
  ASSERT_TRUE(WIFSIGNALED(killed) && WTERMSIG(killed) == SIGKILL) << "wait status " << killed;
  store_ = Open();
  auto a = store_->GetApproval("ap");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->escalation_level, 0);
  EXPECT_EQ(a->deadline_at_ms, 2000);
  EXPECT_TRUE(store_->ListOutbox({})->empty());
  EXPECT_EQ(AuditEvents("ap"), std::vector<std::string>{"created"});
  store_.reset();

  int clean = RunCrashChild(db, "expire", "");
  ASSERT_TRUE(WIFEXITED(clean) && WEXITSTATUS(clean) == 0) << "wait status " << clean;
  store_ = Open();
  EXPECT_EQ(store_->GetApproval("ap")->escalation_level, 1);
  EXPECT_TRUE(store_->GetOutbox("ap:escalated:1").ok());
}

}  // namespace
}  // namespace keel::store::sqlite
