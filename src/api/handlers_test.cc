// The approval, outbox and cancel routes over real HTTP (HttpServer on 127.0.0.1, the real
// client) against a scripted engine: what reaches the engine from a request, and how each
// engine answer becomes a response. The end-to-end behaviour with the real engine and store
// is in test/integration/http_api_test.cc.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/http_server.h"
#include "client/http_client.h"
#include "model/approval.h"
#include "model/outbox.h"
#include "observability/metrics.h"

namespace keel::api {
namespace {

namespace json = boost::json;

// Answers from canned values and records what it was asked. Callbacks run at once, on the
// caller's (io) thread, which the engine contract allows.
class ScriptedEngine : public engine::Engine {
 public:
  std::mutex mu;
  // Canned answers.
  Result<std::vector<model::Approval>> approvals = std::vector<model::Approval>{};
  Result<model::Approval> approval = Error{Errc::kNotFound, "approval 'x' not found"};
  Result<std::vector<model::ApprovalEvent>> audit = std::vector<model::ApprovalEvent>{};
  Result<store::ApprovalOutcome> decision_outcome = store::ApprovalOutcome{};
  Result<std::vector<model::OutboxIntent>> outbox = std::vector<model::OutboxIntent>{};
  Result<model::RunRecord> cancel_outcome = model::RunRecord{};
  Result<model::RunRecord> run = Error{Errc::kNotFound, "run not found"};
  Result<std::vector<model::RunRecord>> runs = std::vector<model::RunRecord>{};
  Result<std::vector<model::JournalEntry>> journal = std::vector<model::JournalEntry>{};
  // What it was asked.
  std::optional<store::ApprovalFilter> approval_filter;
  std::optional<store::OutboxFilter> outbox_filter;
  std::optional<store::RunFilter> run_filter;
  std::optional<store::ApprovalDecision> decision;
  std::vector<std::string> got_ids;
  std::optional<std::pair<std::string, bool>> cancel;  // run id, compensate

  void Submit(model::Envelope, store::Callback<engine::SubmitOutcome> done) override {
    done(Error{Errc::kInternal, "not scripted"});
  }
  void Cancel(const std::string& run_id, bool compensate,
              store::Callback<model::RunRecord> done) override {
    Result<model::RunRecord> r = Error{Errc::kInternal, "unset"};
    {
      std::lock_guard<std::mutex> lock(mu);
      cancel.emplace(run_id, compensate);
      r = cancel_outcome;
    }
    done(std::move(r));
  }
  void Interrupt(const std::string&, std::string, store::Callback<Ok> done) override {
    done(Error{Errc::kInternal, "not scripted"});
  }
  void Signal(const std::string&, const std::string&, std::string,
              store::Callback<Ok> done) override {
    done(Error{Errc::kInternal, "not scripted"});
  }
  WatchId OnTerminal(const std::string&, bool,
                     std::function<void(const model::RunRecord&)>) override {
    return 1;
  }
  WatchId OnChange(const std::string&, std::function<void()>) override { return 1; }
  WatchId OnLive(const std::string&,
                 std::function<void(const std::string&, const std::string&)>) override {
    return 1;
  }
  void Unwatch(WatchId) override {}
  json::object GatewayStatus() const override { return {}; }

  void DecideApproval(store::ApprovalDecision d,
                      store::Callback<store::ApprovalOutcome> done) override {
    Result<store::ApprovalOutcome> r = Error{Errc::kInternal, "unset"};
    {
      std::lock_guard<std::mutex> lock(mu);
      decision = d;
      r = decision_outcome;
    }
    done(std::move(r));
  }
  Result<model::Approval> GetApproval(const std::string& id) override {
    std::lock_guard<std::mutex> lock(mu);
    got_ids.push_back(id);
    return approval;
  }
  Result<std::vector<model::Approval>> ListApprovals(const store::ApprovalFilter& f) override {
    std::lock_guard<std::mutex> lock(mu);
    approval_filter = f;
    return approvals;
  }
  Result<std::vector<model::ApprovalEvent>> ApprovalAudit(const std::string&) override {
    std::lock_guard<std::mutex> lock(mu);
    return audit;
  }
  Result<std::vector<model::OutboxIntent>> ListOutbox(const store::OutboxFilter& f) override {
    std::lock_guard<std::mutex> lock(mu);
    outbox_filter = f;
    return outbox;
  }
  Result<model::RunRecord> GetRun(const std::string&) override {
    std::lock_guard<std::mutex> lock(mu);
    return run;
  }
  Result<std::vector<model::RunRecord>> ListRuns(const store::RunFilter& f) override {
    std::lock_guard<std::mutex> lock(mu);
    run_filter = f;
    return runs;
  }
  Result<std::vector<model::JournalEntry>> ReadJournal(const std::string&, int64_t, int) override {
    std::lock_guard<std::mutex> lock(mu);
    return journal;
  }
  engine::EngineState State() const override { return {}; }
};

model::Approval MakeApproval(std::string id, std::string status = "pending") {
  model::Approval a;
  a.id = std::move(id);
  a.run_id = "run-1";
  a.seq = 4;
  a.tenant = "acme";
  a.intent = "refund";
  a.step = "manager_ok";
  a.payload_json = R"({"amount":120})";
  a.approvers_json = R"(["alice","bob"])";
  a.deadline_at_ms = 1'700'000'060'000;
  a.status = std::move(status);
  a.created_at_ms = 1'700'000'000'000;
  return a;
}

class HandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpOptions opts;
    opts.listen = "127.0.0.1:0";
    server_ = std::make_unique<HttpServer>(opts, engine_, metrics_);
    auto port = server_->Start();
    ASSERT_TRUE(port.ok()) << port.error().message;
    client_.emplace("127.0.0.1", *port, 10000);
  }
  void TearDown() override { server_->Stop(); }

  client::Response Send(std::string_view method, const std::string& target,
                        const std::string& body = {}) {
    auto r = client_->Request(method, target, body);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : client::Response{};
  }
  static json::value Body(const client::Response& r) {
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    EXPECT_FALSE(ec) << r.body;
    return v;
  }
  // The error code and message of an error answer; fails the test when it is not one.
  static std::pair<std::string, std::string> ErrorOf(const client::Response& r) {
    json::value v = Body(r);
    const json::value* code = v.is_object() ? v.as_object().if_contains("error") : nullptr;
    EXPECT_TRUE(code != nullptr && code->is_object()) << r.body;
    if (code == nullptr || !code->is_object()) return {};
    return {json::value_to<std::string>(code->at("code")),
            json::value_to<std::string>(code->at("message"))};
  }

  ScriptedEngine engine_;
  obs::Registry metrics_;
  std::unique_ptr<HttpServer> server_;
  std::optional<client::HttpClient> client_;
};

TEST_F(HandlersTest, ListApprovalsPassesTheFiltersAndPages) {
  engine_.approvals = std::vector<model::Approval>{MakeApproval("ap-2"), MakeApproval("ap-1")};
  client::Response r =
      Send("GET", "/v1/approvals?status=pending&tenant=acme&run_id=run-1&limit=2&before=ap-9");
  ASSERT_EQ(r.status, 200) << r.body;
  json::value v = Body(r);
  ASSERT_EQ(v.at("approvals").as_array().size(), 2u);
  EXPECT_EQ(v.at("approvals").at(0).at("id"), "ap-2");
  EXPECT_EQ(v.at("approvals").at(0).at("approvers"), json::parse(R"(["alice","bob"])"));
  EXPECT_EQ(v.at("approvals").at(0).at("payload"), json::parse(R"({"amount":120})"));
  EXPECT_EQ(v.at("next"), "ap-1");  // a full page: there may be more
  std::lock_guard<std::mutex> lock(engine_.mu);
  ASSERT_TRUE(engine_.approval_filter);
  EXPECT_EQ(engine_.approval_filter->status, "pending");
  EXPECT_EQ(engine_.approval_filter->tenant, "acme");
  EXPECT_EQ(engine_.approval_filter->run_id, "run-1");
  EXPECT_EQ(engine_.approval_filter->before_id, "ap-9");
  EXPECT_EQ(engine_.approval_filter->limit, 2);
}

TEST_F(HandlersTest, ListApprovalsLastPageHasNoNext) {
  engine_.approvals = std::vector<model::Approval>{MakeApproval("ap-1")};
  client::Response r = Send("GET", "/v1/approvals");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(Body(r).at("next").is_null());
  std::lock_guard<std::mutex> lock(engine_.mu);
  EXPECT_EQ(engine_.approval_filter->status, "");  // any status
  EXPECT_EQ(engine_.approval_filter->limit, 50);
}

TEST_F(HandlersTest, ListApprovalsAcceptsEveryStatus) {
  for (const char* status : {"pending", "approved", "denied", "withdrawn"}) {
    client::Response r = Send("GET", std::string("/v1/approvals?status=") + status);
    ASSERT_EQ(r.status, 200) << status << ": " << r.body;
    std::lock_guard<std::mutex> lock(engine_.mu);
    ASSERT_TRUE(engine_.approval_filter);
    EXPECT_EQ(engine_.approval_filter->status, status);
  }
}

TEST_F(HandlersTest, ListApprovalsRejectsBadParameters) {
  client::Response r = Send("GET", "/v1/approvals?status=maybe");
  EXPECT_EQ(r.status, 400);
  auto [code, message] = ErrorOf(r);
  EXPECT_EQ(code, "invalid_argument");
  EXPECT_EQ(message, "status: unknown status 'maybe'; one of pending approved denied withdrawn");

  r = Send("GET", "/v1/approvals?limit=0");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorOf(r).second, "limit: must be an integer in 1..500");
  std::lock_guard<std::mutex> lock(engine_.mu);
  EXPECT_FALSE(engine_.approval_filter) << "a bad request must not reach the engine";
}

TEST_F(HandlersTest, GetApprovalAddsTheAuditTrail) {
  engine_.approval = MakeApproval("ap-1");
  engine_.audit = std::vector<model::ApprovalEvent>{
      {"ap-1", 1'700'000'000'000, "created", "", "{}"},
      {"ap-1", 1'700'000'030'000, "notified", "", R"({"target":"slack"})"}};
  client::Response r = Send("GET", "/v1/approvals/ap-1");
  ASSERT_EQ(r.status, 200) << r.body;
  json::value v = Body(r);
  EXPECT_EQ(v.at("id"), "ap-1");
  EXPECT_EQ(v.at("step"), "manager_ok");
  ASSERT_EQ(v.at("audit").as_array().size(), 2u);
  EXPECT_EQ(v.at("audit").at(1).at("event"), "notified");
  EXPECT_EQ(v.at("audit").at(1).at("detail").at("target"), "slack");
}

TEST_F(HandlersTest, GetUnknownApprovalIs404) {
  client::Response r = Send("GET", "/v1/approvals/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ErrorOf(r).first, "not_found");
}

TEST_F(HandlersTest, DecisionReachesTheEngineNormalised) {
  store::ApprovalOutcome out;
  out.approval = MakeApproval("ap-1", "approved");
  out.approval.decided_by = "alice";
  engine_.decision_outcome = out;
  client::Response r = Send("POST", "/v1/approvals/ap-1/decision",
                            R"({"decision":"approve","by":"alice","reason":"ok by me"})");
  ASSERT_EQ(r.status, 200) << r.body;
  json::value v = Body(r);
  EXPECT_EQ(v.at("status"), "approved");
  EXPECT_EQ(v.at("decided_by"), "alice");
  EXPECT_EQ(v.at("existing"), false);
  EXPECT_EQ(r.headers.count("keel-idempotent-replay"), 0u);
  std::lock_guard<std::mutex> lock(engine_.mu);
  ASSERT_TRUE(engine_.decision);
  EXPECT_EQ(engine_.decision->approval_id, "ap-1");
  EXPECT_EQ(engine_.decision->decision, "approved");
  EXPECT_EQ(engine_.decision->who, "alice");
  EXPECT_EQ(engine_.decision->reason, "ok by me");
  EXPECT_FALSE(engine_.decision->timed_out);
}

TEST_F(HandlersTest, RepeatedDecisionIsAReplay) {
  store::ApprovalOutcome out;
  out.approval = MakeApproval("ap-1", "denied");
  out.existing = true;
  engine_.decision_outcome = out;
  client::Response r =
      Send("POST", "/v1/approvals/ap-1/decision", R"({"decision":"deny","by":"bob"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r).at("existing"), true);
  EXPECT_EQ(r.headers["keel-idempotent-replay"], "true");
  std::lock_guard<std::mutex> lock(engine_.mu);
  EXPECT_EQ(engine_.decision->decision, "denied");
  EXPECT_EQ(engine_.decision->reason, "");
}

TEST_F(HandlersTest, DecisionErrorsOfTheEngineKeepTheirMessage) {
  const std::string conflict =
      "approval ap-1 was already approved by alice at 2023-11-14T22:13:20Z";
  engine_.decision_outcome = Error{Errc::kConflict, conflict};
  client::Response r =
      Send("POST", "/v1/approvals/ap-1/decision", R"({"decision":"denied","by":"bob"})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(ErrorOf(r), std::make_pair(std::string("conflict"), conflict));

  engine_.decision_outcome = Error{Errc::kInvalidArgument, "mallory is not among the approvers"};
  r = Send("POST", "/v1/approvals/ap-1/decision", R"({"decision":"approved","by":"mallory"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorOf(r).second, "mallory is not among the approvers");

  engine_.decision_outcome = Error{Errc::kNotFound, "approval 'ap-9' not found"};
  r = Send("POST", "/v1/approvals/ap-9/decision", R"({"decision":"approved","by":"alice"})");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ErrorOf(r).first, "not_found");
}

TEST_F(HandlersTest, DecisionBodyIsValidated) {
  struct Case {
    const char* body;
    const char* code;
    const char* message_start;
  };
  const std::string long_name(201, 'x');
  const std::string too_long = R"({"decision":"approved","by":")" + long_name + "\"}";
  for (const Case& c : {
           Case{"", "invalid_json", "request body is empty"},
           Case{"{", "invalid_json", "malformed JSON"},
           Case{"[]", "invalid_json", "body: must be a JSON object"},
           Case{R"({"by":"alice"})", "invalid_argument", "decision: required"},
           Case{R"({"decision":"maybe","by":"alice"})", "invalid_argument",
                "decision: must be \"approved\" or \"denied\""},
           Case{R"({"decision":true,"by":"alice"})", "invalid_argument", "decision: must be"},
           Case{R"({"decision":"approved"})", "invalid_argument", "by: required"},
           Case{R"({"decision":"approved","by":"  "})", "invalid_argument", "by: required"},
           Case{R"({"decision":"approved","by":7})", "invalid_argument", "by: required"},
           Case{too_long.c_str(), "invalid_argument", "by: at most 200 characters"},
           Case{R"({"decision":"approved","by":"keel:timeout"})", "invalid_argument",
                "by: names starting with \"keel:\" are reserved"},
           Case{R"({"decision":"approved","by":"a","reason":5})", "invalid_argument",
                "reason: must be a string"},
           Case{R"({"decision":"approved","by":"a","user":"b"})", "invalid_argument",
                "unknown field 'user'"},
       }) {
    client::Response r = Send("POST", "/v1/approvals/ap-1/decision", c.body);
    auto [code, message] = ErrorOf(r);
    EXPECT_EQ(r.status, 400) << c.body;
    EXPECT_EQ(code, c.code) << c.body;
    EXPECT_EQ(message.rfind(c.message_start, 0), 0u) << c.body << " -> " << message;
  }
  // 200 code points of a multi-byte script are within the limit.
  std::string name;
  for (int i = 0; i < 200; ++i) name += "\xc3\xa9";  // é
  client::Response r = Send("POST", "/v1/approvals/ap-1/decision",
                            R"({"decision":"approved","by":")" + name + "\"}");
  EXPECT_EQ(r.status, 200) << r.body;
  std::lock_guard<std::mutex> lock(engine_.mu);
  ASSERT_TRUE(engine_.decision) << "only the valid request reaches the engine";
  EXPECT_EQ(engine_.decision->who, name);
}

TEST_F(HandlersTest, DecisionsWaitWhileDraining) {
  server_->SetDraining(true);
  client::Response r =
      Send("POST", "/v1/approvals/ap-1/decision", R"({"decision":"approved","by":"alice"})");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.headers["retry-after"], "5");
  // Reads keep working.
  EXPECT_EQ(Send("GET", "/v1/approvals").status, 200);
  std::lock_guard<std::mutex> lock(engine_.mu);
  EXPECT_FALSE(engine_.decision);
}

TEST_F(HandlersTest, ListOutboxPassesTheFiltersAndPages) {
  model::OutboxIntent i;
  i.key = "run-1:3";
  i.run_id = "run-1";
  i.seq = 3;
  i.target = "charge_card";
  i.args_json = R"({"amount":5})";
  i.attempts = 2;
  i.last_error = "HTTP 503";
  engine_.outbox = std::vector<model::OutboxIntent>{i};
  client::Response r =
      Send("GET", "/v1/outbox?status=pending&run_id=run-1&tenant=acme&limit=1&after=run-0:9");
  ASSERT_EQ(r.status, 200) << r.body;
  json::value v = Body(r);
  ASSERT_EQ(v.at("intents").as_array().size(), 1u);
  EXPECT_EQ(v.at("intents").at(0).at("key"), "run-1:3");
  EXPECT_EQ(v.at("intents").at(0).at("args").at("amount"), 5);
  EXPECT_TRUE(v.at("intents").at(0).at("result").is_null());
  EXPECT_EQ(v.at("next"), "run-1:3");
  {
    std::lock_guard<std::mutex> lock(engine_.mu);
    EXPECT_EQ(engine_.outbox_filter->status, "pending");
    EXPECT_EQ(engine_.outbox_filter->run_id, "run-1");
    EXPECT_EQ(engine_.outbox_filter->tenant, "acme");
    EXPECT_EQ(engine_.outbox_filter->after_key, "run-0:9");
    EXPECT_EQ(engine_.outbox_filter->limit, 1);
  }

  r = Send("GET", "/v1/outbox?status=sent");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorOf(r).second, "status: unknown status 'sent'; one of pending delivered failed");
  r = Send("GET", "/v1/outbox?limit=x");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorOf(r).second, "limit: must be an integer in 1..500");
}

TEST_F(HandlersTest, CancelTakesCompensateFromQueryOrBody) {
  model::RunRecord run;
  run.id = "run-1";
  run.status = model::RunStatus::kRunning;
  run.cancel_requested = true;
  engine_.cancel_outcome = run;
  auto sent = [&](const std::string& target, const std::string& body) {
    client::Response r = Send("POST", target, body);
    EXPECT_EQ(r.status, 200) << target << " " << body << ": " << r.body;
    std::lock_guard<std::mutex> lock(engine_.mu);
    auto got = engine_.cancel;
    engine_.cancel.reset();
    return got;
  };
  using Got = std::optional<std::pair<std::string, bool>>;
  EXPECT_EQ(sent("/v1/runs/run-1/cancel", ""), Got({"run-1", false}));
  EXPECT_EQ(sent("/v1/runs/run-1/cancel", R"({"compensate":true})"), Got({"run-1", true}));
  EXPECT_EQ(sent("/v1/runs/run-1/cancel?compensate=true", ""), Got({"run-1", true}));
  EXPECT_EQ(sent("/v1/runs/run-1/cancel?compensate=true", R"({"compensate":true})"),
            Got({"run-1", true}));
  EXPECT_EQ(sent("/v1/runs/run-1/cancel", "{}"), Got({"run-1", false}));

  client::Response r = Send("POST", "/v1/runs/run-1/cancel", R"({"compensate":true})");
  json::value v = Body(r);
  EXPECT_EQ(v.at("status"), "running");
  EXPECT_EQ(v.at("cancel_requested"), true);
}

TEST_F(HandlersTest, CancelRejectsBadCompensate) {
  struct Case {
    const char* target;
    const char* body;
    const char* code;
    const char* message;
  };
  for (const Case& c : {
           Case{"/v1/runs/r/cancel?compensate=yes", "", "invalid_argument",
                "compensate: must be true or false, not 'yes'"},
           Case{"/v1/runs/r/cancel", R"({"compensate":"true"})", "invalid_argument",
                "compensate: must be a boolean"},
           Case{"/v1/runs/r/cancel", R"({"compensat":true})", "invalid_argument",
                "unknown field 'compensat'; the body is {\"compensate\": bool}"},
           Case{"/v1/runs/r/cancel?compensate=false", R"({"compensate":true})", "invalid_argument",
                "compensate: the query says false and the body says true"},
           Case{"/v1/runs/r/cancel", "[true]", "invalid_json",
                "body: must be a JSON object {\"compensate\": bool}"},
       }) {
    client::Response r = Send("POST", c.target, c.body);
    EXPECT_EQ(r.status, 400) << c.target << " " << c.body;
    EXPECT_EQ(ErrorOf(r), std::make_pair(std::string(c.code), std::string(c.message)));
  }
  std::lock_guard<std::mutex> lock(engine_.mu);
  EXPECT_FALSE(engine_.cancel);
}

TEST_F(HandlersTest, RunsShowParentCancelRequestAndBranches) {
  model::RunRecord child;
  child.id = "child-1";
  child.intent = "sub";
  child.status = model::RunStatus::kCompensated;
  child.parent_run_id = "run-1";
  engine_.run = child;
  json::value v = Body(Send("GET", "/v1/runs/child-1"));
  EXPECT_EQ(v.at("status"), "compensated");
  EXPECT_EQ(v.at("parent_run_id"), "run-1");
  EXPECT_EQ(v.at("cancel_requested"), false);

  model::RunRecord top;
  top.id = "run-1";
  engine_.runs = std::vector<model::RunRecord>{top};
  v = Body(Send("GET", "/v1/runs?status=compensation_failed"));
  EXPECT_FALSE(v.at("runs").at(0).as_object().contains("parent_run_id"));
  {
    std::lock_guard<std::mutex> lock(engine_.mu);
    EXPECT_EQ(engine_.run_filter->status, model::RunStatus::kCompensationFailed);
  }
  client::Response r = Send("GET", "/v1/runs?status=done");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorOf(r).second,
            "status: unknown run status 'done'; one of queued running waiting succeeded failed "
            "cancelled timed_out budget_exhausted compensated compensation_failed");

  model::JournalEntry main_line;
  main_line.seq = 1;
  main_line.kind = model::EntryKind::kParallel;
  main_line.result_json = R"({"branches":2})";
  model::JournalEntry branch = main_line;
  branch.seq = 2;
  branch.kind = model::EntryKind::kStep;
  branch.branch = "1.2";
  engine_.journal = std::vector<model::JournalEntry>{main_line, branch};
  v = Body(Send("GET", "/v1/runs/run-1/journal"));
  EXPECT_EQ(v.at("entries").at(0).at("kind"), "parallel");
  EXPECT_FALSE(v.at("entries").at(0).as_object().contains("branch"));
  EXPECT_EQ(v.at("entries").at(1).at("branch"), "1.2");
}

}  // namespace
}  // namespace keel::api
