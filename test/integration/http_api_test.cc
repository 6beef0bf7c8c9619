// The HTTP API of a real `keel serve` process, over loopback, against the contract in
// docs/api/http.md. Most tests share one server (SetUpTestSuite) and keep apart by run id or
// tenant; the ones about the process itself (shutdown, data directory lock, bad workflow
// files, the examples) start their own.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "test/testing/server_process.h"
#include "test/testing/test_util.h"

namespace keel::testing {
namespace {

namespace json = boost::json;
using client::HttpClient;
using client::Response;

// Checks the error shape every error shares: {"error":{"code","message"}}.
void ExpectError(const Response& r, int status, const std::string& code) {
  EXPECT_EQ(r.status, status) << r.body;
  json::value v = Parse(r.body);
  ASSERT_TRUE(v.is_object()) << r.body;
  EXPECT_EQ(Str(v, "/error/code"), code) << r.body;
  EXPECT_TRUE(At(v, "/error/message").is_string()) << r.body;
  EXPECT_FALSE(Str(v, "/error/message").empty()) << r.body;
}

// One server for the suite (see SharedServerTest).
class HttpApiTest : public SharedServerTest {};

TEST_F(HttpApiTest, SubmitWithWaitAnswers200WithTheResult) {
  Response r = MustPost(c_, "/v1/runs?wait=5000",
                        R"({"intent":"hello","payload":{"name":"x"},"correlation_id":"c1"})");
  ASSERT_EQ(r.status, 200) << r.body;
  json::value run = Parse(r.body);
  EXPECT_EQ(Str(run, "/status"), "succeeded");
  EXPECT_EQ(Str(run, "/intent"), "hello");
  EXPECT_EQ(Str(run, "/result/greeting"), "hello, x");
  EXPECT_EQ(Str(run, "/result/shout"), "HELLO, X!");
  EXPECT_EQ(Str(run, "/correlation_id"), "c1");
  EXPECT_EQ(Str(run, "/caller/tenant"), "default");
  EXPECT_EQ(At(run, "/usage/steps"), json::value(2));
  EXPECT_TRUE(At(run, "/error").is_null());
  EXPECT_EQ(r.headers.count("location"), 0u);
}

TEST_F(HttpApiTest, SubmitWithoutWaitAnswers202WithLocation) {
  Response r = MustPost(c_, "/v1/runs", R"({"intent":"hello","payload":{"name":"y"}})");
  ASSERT_EQ(r.status, 202) << r.body;
  json::value run = Parse(r.body);
  std::string id = Str(run, "/id");
  ASSERT_FALSE(id.empty());
  EXPECT_FALSE(IsTerminal(Str(run, "/status"))) << r.body;
  ASSERT_EQ(r.headers.count("location"), 1u);
  EXPECT_EQ(r.headers["location"], "/v1/runs/" + id);

  json::value done =
      WaitForRun(c_, id, [](const json::value& v) { return IsTerminal(Str(v, "/status")); });
  EXPECT_EQ(Str(done, "/status"), "succeeded");
  EXPECT_EQ(Str(done, "/result/greeting"), "hello, y");
  // The Location header names the same resource.
  json::value via_location = Parse(MustGet(c_, r.headers["location"]).body);
  EXPECT_EQ(Str(via_location, "/id"), id);
}

TEST_F(HttpApiTest, ListFiltersAndPaginates) {
  const std::string tenant = "list-tenant";
  auto submit = [&](const std::string& intent, const std::string& payload) {
    json::object env{{"intent", intent}, {"caller", {{"tenant", tenant}}}};
    env["payload"] = Parse(payload);
    json::value run = Submit(c_, env);
    return Str(run, "/id");
  };
  std::set<std::string> hello, steps, all;
  for (int i = 0; i < 3; ++i) hello.insert(submit("hello", R"({"name":"l"})"));
  for (int i = 0; i < 2; ++i) steps.insert(submit("steps", R"({"n":2})"));
  std::string waiting = submit("await_signal", R"({"signal":"never"})");
  all.insert(hello.begin(), hello.end());
  all.insert(steps.begin(), steps.end());
  all.insert(waiting);
  ASSERT_EQ(all.size(), 6u);
  for (const auto& id : hello) EXPECT_EQ(Str(WaitTerminal(c_, id), "/status"), "succeeded");
  for (const auto& id : steps) EXPECT_EQ(Str(WaitTerminal(c_, id), "/status"), "succeeded");
  WaitStatus(c_, waiting, "waiting");

  auto ids_of = [&](const std::string& query) {
    Response r = MustGet(c_, "/v1/runs?" + query);
    EXPECT_EQ(r.status, 200) << r.body;
    json::value v = Parse(r.body);
    std::vector<std::string> ids;
    json::value runs = At(v, "/runs");
    EXPECT_TRUE(runs.is_array()) << r.body;
    if (runs.is_array()) {
      for (const auto& run : runs.get_array()) ids.push_back(Str(run, "/id"));
    }
    return ids;
  };
  auto as_set = [](const std::vector<std::string>& v) {
    return std::set<std::string>(v.begin(), v.end());
  };

  EXPECT_EQ(as_set(ids_of("tenant=" + tenant)), all);
  EXPECT_EQ(as_set(ids_of("tenant=" + tenant + "&intent=hello")), hello);
  EXPECT_EQ(as_set(ids_of("tenant=" + tenant + "&intent=steps&status=succeeded")), steps);
  EXPECT_EQ(as_set(ids_of("tenant=" + tenant + "&status=waiting")), std::set<std::string>{waiting});
  EXPECT_TRUE(ids_of("tenant=" + tenant + "&status=failed").empty());
  EXPECT_TRUE(ids_of("tenant=no-such-tenant").empty());
  // Every run listed under a filter matches it.
  {
    json::value runs = At(Parse(MustGet(c_, "/v1/runs?intent=hello&limit=500").body), "/runs");
    ASSERT_TRUE(runs.is_array());
    for (const auto& run : runs.get_array()) EXPECT_EQ(Str(run, "/intent"), "hello");
  }

  // Pages of 2, newest first, cover the tenant's runs exactly once.
  std::vector<std::string> paged;
  std::string cursor;
  int pages = 0;
  int64_t previous_created = INT64_MAX;
  for (;;) {
    std::string target = "/v1/runs?tenant=" + tenant + "&limit=2";
    if (!cursor.empty()) target += "&cursor=" + client::UrlEncode(cursor);
    Response r = MustGet(c_, target);
    ASSERT_EQ(r.status, 200) << r.body;
    json::value page = Parse(r.body);
    json::value runs_value = At(page, "/runs");
    ASSERT_TRUE(runs_value.is_array()) << r.body;
    const json::array& runs = runs_value.get_array();
    EXPECT_LE(runs.size(), 2u);
    for (const auto& run : runs) {
      paged.push_back(Str(run, "/id"));
      int64_t created = At(run, "/created_at_ms").to_number<int64_t>();
      EXPECT_LE(created, previous_created) << "not newest first";
      previous_created = created;
    }
    ASSERT_LT(++pages, 10) << "pagination does not end";
    json::value next = At(page, "/next_cursor");
    if (next.is_null()) break;
    ASSERT_TRUE(next.is_string()) << r.body;
    cursor = std::string(next.get_string());
  }
  EXPECT_EQ(paged.size(), all.size());
  EXPECT_EQ(as_set(paged), all);

  // Bad list parameters are named.
  Response bad_status = MustGet(c_, "/v1/runs?status=sleepy");
  ExpectError(bad_status, 400, "invalid_argument");
  EXPECT_NE(bad_status.body.find("status"), std::string::npos);
  Response bad_limit = MustGet(c_, "/v1/runs?limit=0");
  ExpectError(bad_limit, 400, "invalid_argument");
  EXPECT_NE(bad_limit.body.find("limit"), std::string::npos);

  EXPECT_EQ(MustPost(c_, "/v1/runs/" + waiting + "/cancel", "").status, 200);
}

TEST_F(HttpApiTest, JournalHasContiguousSeqsWithKindsAndNames) {
  json::value run = Submit(c_, {{"intent", "hello"}, {"payload", {{"name", "j"}}}}, "?wait=5000");
  std::string id = Str(run, "/id");
  ASSERT_EQ(Str(WaitTerminal(c_, id), "/status"), "succeeded");
  json::array entries = Journal(c_, id);
  // hello.lua: step greet, emit, sleep, step shout.
  const std::vector<std::pair<std::string, std::string>> want{
      {"step", "greet"}, {"emit", "emit"}, {"sleep", "sleep"}, {"step", "shout"}};
  ASSERT_EQ(entries.size(), want.size()) << json::serialize(entries);
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(At(entries[i], "/seq"), json::value(static_cast<int64_t>(i + 1)));
    EXPECT_EQ(Str(entries[i], "/kind"), want[i].first) << i;
    if (want[i].first == "step") {
      EXPECT_EQ(Str(entries[i], "/name"), want[i].second) << i;
    }
    EXPECT_TRUE(At(entries[i], "/request_hash").is_string());
    EXPECT_TRUE(At(entries[i], "/created_at_ms").is_number());
  }
  EXPECT_EQ(Str(entries[0], "/result/text"), "hello, j");
  EXPECT_EQ(Str(entries[1], "/result/kind"), "greeted");
  EXPECT_EQ(Str(entries[3], "/result"), "HELLO, J!");

  // Paging with after/limit returns the rest in order.
  json::value page = Parse(MustGet(c_, "/v1/runs/" + id + "/journal?after=1&limit=2").body);
  ASSERT_EQ(At(page, "/entries").as_array().size(), 2u);
  EXPECT_EQ(At(page, "/entries/0/seq"), json::value(2));
  EXPECT_EQ(At(page, "/entries/1/seq"), json::value(3));

  ExpectError(MustGet(c_, "/v1/runs/no-such-run/journal"), 404, "not_found");
  ExpectError(MustGet(c_, "/v1/runs/no-such-run"), 404, "not_found");
}

struct SseEvent {
  std::string id, event, data;
};

TEST_F(HttpApiTest, EventStreamDeliversEveryEntryThenEndAndResumes) {
  // paced.lua with n=4: s1, sleep, s2, sleep, s3, sleep, s4 = 7 entries.
  json::value run = Submit(c_, {{"intent", "paced"}, {"payload", {{"n", 4}, {"pause", "150ms"}}}});
  std::string id = Str(run, "/id");
  ASSERT_FALSE(id.empty());
  const std::string target = "/v1/runs/" + id + "/events";

  // First connection: read while the run is live, and hang up after event 3.
  std::vector<SseEvent> first;
  {
    HttpClient sc = server_->Client(20'000);
    auto last = sc.Stream(
        target, {}, [&](const std::string& eid, const std::string& ev, const std::string& data) {
          first.push_back({eid, ev, data});
          return eid != "3";
        });
    ASSERT_TRUE(last.ok()) << last.error().message;
    EXPECT_EQ(*last, "3");
  }
  ASSERT_EQ(first.size(), 3u);

  // Reconnect with Last-Event-ID: 3; everything after it, then `end`.
  std::vector<SseEvent> rest;
  {
    HttpClient sc = server_->Client(20'000);
    auto last =
        sc.Stream(target, {{"Last-Event-ID", "3"}},
                  [&](const std::string& eid, const std::string& ev, const std::string& data) {
                    rest.push_back({eid, ev, data});
                    return ev != "end";
                  });
    ASSERT_TRUE(last.ok()) << last.error().message;
  }
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.back().event, "end");
  json::value end_run = Parse(rest.back().data);
  EXPECT_EQ(Str(end_run, "/id"), id);
  EXPECT_EQ(Str(end_run, "/status"), "succeeded");
  EXPECT_EQ(At(end_run, "/result/steps"), json::value(4));
  rest.pop_back();

  std::vector<SseEvent> all = first;
  all.insert(all.end(), rest.begin(), rest.end());
  json::array journal = Journal(c_, id);
  ASSERT_EQ(journal.size(), 7u);
  ASSERT_EQ(all.size(), journal.size()) << "events after the reconnect: " << rest.size();
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].id, std::to_string(i + 1));
    EXPECT_EQ(all[i].event, i % 2 == 0 ? "step" : "sleep") << i;
    json::value data = Parse(all[i].data);
    EXPECT_EQ(data, journal[i]) << "event " << i + 1 << " differs from the journal entry";
  }

  // A stream opened after the end replays everything, then `end`, then closes.
  std::vector<SseEvent> replay;
  HttpClient sc = server_->Client(20'000);
  auto last = sc.Stream(
      target, {}, [&](const std::string& eid, const std::string& ev, const std::string& data) {
        replay.push_back({eid, ev, data});
        return true;
      });
  ASSERT_TRUE(last.ok()) << last.error().message;
  ASSERT_EQ(replay.size(), 8u);
  EXPECT_EQ(replay.back().event, "end");
  EXPECT_EQ(Str(Parse(replay.back().data), "/status"), "succeeded");

  // A stream of an unknown run is a 404.
  HttpClient nc = server_->Client(5'000);
  auto missing =
      nc.Stream("/v1/runs/no-such-run/events", {}, [](auto&, auto&, auto&) { return true; });
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::kNotFound) << missing.error().message;
}

TEST_F(HttpApiTest, SignalWakesAWaitingRun) {
  json::value run = Submit(c_, {{"intent", "await_signal"}, {"payload", {{"signal", "approve"}}}});
  std::string id = Str(run, "/id");
  json::value waiting = WaitStatus(c_, id, "waiting");
  EXPECT_EQ(Str(waiting, "/wait_reason"), "signal:approve") << json::serialize(waiting);

  Response r =
      MustPost(c_, "/v1/runs/" + id + "/signals/approve", R"({"approved":true,"by":"ana"})");
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(At(Parse(r.body), "/accepted"), json::value(true));

  json::value done = WaitTerminal(c_, id);
  ASSERT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
  EXPECT_EQ(At(done, "/result/timed_out"), json::value(false));
  EXPECT_EQ(At(done, "/result/got"), Parse(R"({"approved":true,"by":"ana"})"));
  EXPECT_TRUE(At(done, "/wait_reason").is_null()) << "wait_reason only while waiting";

  ExpectError(MustPost(c_, "/v1/runs/" + id + "/signals/approve", "{}"), 409, "already_finished");
  ExpectError(MustPost(c_, "/v1/runs/no-such-run/signals/approve", "{}"), 404, "not_found");
}

TEST_F(HttpApiTest, SignalTimeoutTakesTheTimeoutPath) {
  json::value run = Submit(
      c_, {{"intent", "await_signal"}, {"payload", {{"signal", "approve"}, {"timeout", "300ms"}}}});
  std::string id = Str(run, "/id");
  json::value done = WaitTerminal(c_, id);
  ASSERT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
  EXPECT_EQ(At(done, "/result/timed_out"), json::value(true)) << json::serialize(done);
  EXPECT_TRUE(At(done, "/result/got").is_null());
}

TEST_F(HttpApiTest, InterruptIsSeenByTheWorkflow) {
  json::value run = Submit(c_, {{"intent", "interruptible"}, {"payload", json::object()}});
  std::string id = Str(run, "/id");
  // Let it go round its loop at least once before interrupting.
  ASSERT_TRUE(WaitFor([&] { return Journal(c_, id).size() >= 2; }, kRunTimeoutMs));

  Response r = MustPost(c_, "/v1/runs/" + id + "/interrupt", R"({"input":"stop"})");
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(At(Parse(r.body), "/accepted"), json::value(true));

  json::value done = WaitTerminal(c_, id);
  ASSERT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
  EXPECT_EQ(At(done, "/result/stopped"), json::value(true)) << json::serialize(done);
  EXPECT_GE(At(done, "/result/round").to_number<int64_t>(), 2);

  // The interrupt is journaled where the workflow read it.
  json::array journal = Journal(c_, id);
  ASSERT_FALSE(journal.empty());
  EXPECT_EQ(Str(journal.back(), "/kind"), "interrupts");
  EXPECT_EQ(At(journal.back(), "/result"), Parse(R"(["stop"])"));

  ExpectError(MustPost(c_, "/v1/runs/" + id + "/interrupt", R"({"input":"again"})"), 409,
              "already_finished");
  ExpectError(MustPost(c_, "/v1/runs/" + id + "/interrupt", R"({"nope":1})"), 400,
              "invalid_argument");
}

TEST_F(HttpApiTest, CancelASleepingRun) {
  json::value run = Submit(c_, {{"intent", "sleeper"}, {"payload", {{"duration", "1h"}}}});
  std::string id = Str(run, "/id");
  json::value waiting = WaitStatus(c_, id, "waiting");
  EXPECT_EQ(Str(waiting, "/wait_reason"), "timer");

  Response r = MustPost(c_, "/v1/runs/" + id + "/cancel", "");
  ASSERT_EQ(r.status, 200) << r.body;
  json::value cancelled = Parse(r.body);
  EXPECT_EQ(Str(cancelled, "/status"), "cancelled");
  EXPECT_EQ(Str(cancelled, "/error/code"), "cancelled") << r.body;

  json::value now = GetRun(c_, id);
  EXPECT_EQ(Str(now, "/status"), "cancelled");
  EXPECT_TRUE(At(now, "/result").is_null());

  ExpectError(MustPost(c_, "/v1/runs/" + id + "/cancel", ""), 409, "already_finished");
  ExpectError(MustPost(c_, "/v1/runs/no-such-run/cancel", ""), 404, "not_found");
}

TEST_F(HttpApiTest, RequestErrors) {
  ExpectError(MustPost(c_, "/v1/runs", R"({"intent": "hello",)"), 400, "invalid_json");
  ExpectError(MustPost(c_, "/v1/runs", "[1,2]"), 400, "invalid_json");

  std::string deep =
      R"({"intent":"hello","payload":)" + std::string(100, '[') + std::string(100, ']') + "}";
  ExpectError(MustPost(c_, "/v1/runs", deep), 400, "invalid_json");

  std::string big =
      R"({"intent":"hello","payload":{"blob":")" + std::string(1100 * 1024, 'x') + "\"}}";
  {
    HttpClient bc = server_->Client();
    ExpectError(MustPost(bc, "/v1/runs", big), 413, "payload_too_large");
  }

  Response no_intent = MustPost(c_, "/v1/runs", R"({"payload":{}})");
  ExpectError(no_intent, 400, "invalid_argument");
  EXPECT_NE(Str(Parse(no_intent.body), "/error/message").find("intent"), std::string::npos)
      << no_intent.body;

  ExpectError(MustPost(c_, "/v1/runs", R"({"intent":"no_such_workflow"})"), 404, "unknown_intent");

  Response bad_deadline =
      MustPost(c_, "/v1/runs", R"({"intent":"hello","budget":{"deadline_ms":-5}})");
  ExpectError(bad_deadline, 400, "invalid_argument");
  EXPECT_NE(Str(Parse(bad_deadline.body), "/error/message").find("budget.deadline_ms"),
            std::string::npos)
      << bad_deadline.body;
  Response bad_steps =
      MustPost(c_, "/v1/runs", R"({"intent":"hello","budget":{"max_steps":"many"}})");
  ExpectError(bad_steps, 400, "invalid_argument");
  EXPECT_NE(Str(Parse(bad_steps.body), "/error/message").find("budget.max_steps"),
            std::string::npos)
      << bad_steps.body;

  ExpectError(MustGet(c_, "/v1/nope"), 404, "not_found");
  ExpectError(MustGet(c_, "/"), 404, "not_found");
  auto del = c_.Request("DELETE", "/v1/runs");
  ASSERT_TRUE(del.ok()) << del.error().message;
  ExpectError(*del, 405, "method_not_allowed");
  ExpectError(MustGet(c_, "/v1/runs/some-id/cancel"), 405, "method_not_allowed");
  ExpectError(MustPost(c_, "/healthz", ""), 405, "method_not_allowed");

  // The connection (and the server) still serve after all of that.
  EXPECT_EQ(MustGet(c_, "/healthz").status, 200);
}

TEST_F(HttpApiTest, HealthReadinessAndMetrics) {
  Response health = MustGet(c_, "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(Str(Parse(health.body), "/status"), "ok");
  Response ready = MustGet(c_, "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(Str(Parse(ready.body), "/status"), "ready");

  // One finished run and one parked one, so every family has samples.
  json::value done = Submit(c_, {{"intent", "hello"}, {"payload", json::object()}}, "?wait=5000");
  EXPECT_EQ(Str(WaitTerminal(c_, Str(done, "/id")), "/status"), "succeeded");
  json::value parked =
      Submit(c_, {{"intent", "await_signal"}, {"payload", {{"signal", "metrics"}}}});
  std::string parked_id = Str(parked, "/id");
  WaitStatus(c_, parked_id, "waiting");

  Response m = MustGet(c_, "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.headers["content-type"].find("text/plain"), std::string::npos);
  for (const char* name :
       {"keel_runs_started_total", "keel_runs_finished_total", "keel_step_seconds_bucket",
        "keel_store_commit_batch_size_bucket", "keel_store_commit_seconds_bucket",
        "keel_executor_queue_depth", "keel_active_leases",
        "keel_runs{intent=\"await_signal\",status=\"waiting\"}"}) {
    EXPECT_NE(m.body.find(std::string("\n") + name), std::string::npos)
        << "missing " << name << " in:\n"
        << m.body;
  }
  EXPECT_EQ(MustPost(c_, "/v1/runs/" + parked_id + "/cancel", "").status, 200);
}

TEST_F(HttpApiTest, ScriptErrorFailsTheRunWithFileAndLine) {
  json::value run = Submit(c_, {{"intent", "boom"}, {"payload", json::object()}}, "?wait=5000");
  json::value done = WaitTerminal(c_, Str(run, "/id"));
  ASSERT_EQ(Str(done, "/status"), "failed") << json::serialize(done);
  EXPECT_EQ(Str(done, "/error/code"), "script_error");
  std::string message = Str(done, "/error/message");
  EXPECT_NE(message.find("boom"), std::string::npos) << message;
  EXPECT_NE(message.find("boom.lua:5:"), std::string::npos) << message;
  EXPECT_TRUE(At(done, "/result").is_null());
}

TEST_F(HttpApiTest, DeterminismHelpersAreJournaled) {
  json::value run = Submit(c_, {{"intent", "helpers"}, {"payload", json::object()}}, "?wait=5000");
  std::string id = Str(run, "/id");
  json::value done = WaitTerminal(c_, id);
  ASSERT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
  json::array journal = Journal(c_, id);
  ASSERT_EQ(journal.size(), 3u) << json::serialize(journal);
  EXPECT_EQ(Str(journal[0], "/kind"), "now");
  EXPECT_EQ(Str(journal[1], "/kind"), "random");
  EXPECT_EQ(Str(journal[2], "/kind"), "uuid");
  EXPECT_EQ(At(journal[0], "/result"), At(done, "/result/now")) << json::serialize(done);
  EXPECT_EQ(At(journal[1], "/result"), At(done, "/result/r")) << json::serialize(done);
  EXPECT_EQ(At(journal[2], "/result"), At(done, "/result/id")) << json::serialize(done);
  EXPECT_TRUE(At(done, "/result/now").is_number());
  double r = At(done, "/result/r").to_number<double>();
  EXPECT_GE(r, 0.0);
  EXPECT_LT(r, 1.0);
  EXPECT_EQ(Str(done, "/result/id").size(), 36u);
}

// --- Tests that own their server ---

TEST(HttpApiProcessTest, GracefulShutdownKeepsAParkedRun) {
  ServerProcess server(ServerProcess::Options{.workflows_dir = TestWorkflows()});
  ASSERT_TRUE(server.Start().ok());
  std::string id;
  {
    HttpClient c = server.Client();
    json::value run = Submit(c, {{"intent", "await_signal"}, {"payload", {{"signal", "go"}}}});
    id = Str(run, "/id");
    ASSERT_FALSE(id.empty());
    EXPECT_EQ(Str(WaitStatus(c, id, "waiting"), "/wait_reason"), "signal:go");
  }
  auto code = server.Terminate();
  ASSERT_TRUE(code.ok()) << code.error().message;
  EXPECT_EQ(*code, 0) << server.Logs();

  Status st = server.Start();
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(server.starts(), 2);
  HttpClient c = server.Client();
  json::value after = GetRun(c, id);
  EXPECT_EQ(Str(after, "/status"), "waiting") << json::serialize(after);
  Response r = MustPost(c, "/v1/runs/" + id + "/signals/go", R"({"n":7})");
  ASSERT_EQ(r.status, 202) << r.body;
  json::value done = WaitTerminal(c, id);
  EXPECT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done) << server.Logs();
  EXPECT_EQ(At(done, "/result/got"), Parse(R"({"n":7})"));
}

TEST(HttpApiProcessTest, SecondServerOnTheSameDataDirRefusesToStart) {
  ServerProcess first(ServerProcess::Options{.workflows_dir = TestWorkflows()});
  ASSERT_TRUE(first.Start().ok());

  ServerProcess second(
      ServerProcess::Options{.data_dir = first.data_dir(), .workflows_dir = TestWorkflows()});
  Status st = second.Start();
  std::string said;
  if (st.ok()) {
    // It listened after all; it must still give up by itself.
    auto code = second.WaitExit(10'000);
    ASSERT_TRUE(code.ok()) << "the second server keeps running on a data dir in use";
    EXPECT_NE(*code, 0);
    said = second.Logs();
  } else {
    said = st.error().message;
  }
  EXPECT_NE(said.find("in use"), std::string::npos) << said;
  EXPECT_FALSE(second.running());

  // The first one is unharmed.
  HttpClient c = first.Client();
  EXPECT_EQ(MustGet(c, "/healthz").status, 200);
  json::value run = Submit(c, {{"intent", "steps"}, {"payload", {{"n", 1}}}}, "?wait=5000");
  EXPECT_EQ(Str(WaitTerminal(c, Str(run, "/id")), "/status"), "succeeded");
}

TEST(HttpApiProcessTest, BadWorkflowFileIsSkippedAndNamed) {
  ServerProcess server(ServerProcess::Options{.workflows_dir = TestWorkflows() + "/broken"});
  Status st = server.Start();
  ASSERT_TRUE(st.ok()) << st.error().message;
  HttpClient c = server.Client();
  json::value run = Submit(c, {{"intent", "good"}, {"payload", json::object()}}, "?wait=5000");
  json::value done = WaitTerminal(c, Str(run, "/id"));
  EXPECT_EQ(Str(done, "/status"), "succeeded");
  EXPECT_EQ(Str(done, "/result/value"), "fine");
  ExpectError(MustPost(c, "/v1/runs", R"({"intent":"bad_syntax"})"), 404, "unknown_intent");
  std::string logs = server.Logs();
  EXPECT_NE(logs.find("bad_syntax.lua:4:"), std::string::npos) << logs;
}

TEST(HttpApiProcessTest, ExamplesLoadAndHelloSucceeds) {
  ServerProcess server(ServerProcess::Options{});  // workflows: examples/
  ASSERT_TRUE(server.Start().ok());
  HttpClient c = server.Client();
  Response r = MustPost(c, "/v1/runs?wait=10000", R"({"intent":"hello","payload":{"name":"x"}})");
  json::value run = Parse(r.body);
  json::value done = WaitTerminal(c, Str(run, "/id"));
  EXPECT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
  EXPECT_NE(Str(done, "/result/greeting").find("x"), std::string::npos) << json::serialize(done);
  for (const char* intent : {"approval", "countdown"}) {
    Response known =
        MustPost(c, "/v1/runs",
                 json::serialize(json::object{{"intent", intent}, {"payload", {{"from", 1}}}}));
    EXPECT_TRUE(known.status == 200 || known.status == 202) << intent << ": " << known.body;
  }
}

}  // namespace
}  // namespace keel::testing
