// Recovery of a real `keel serve` after SIGKILL and restarts: durable sleeps and signal waits
// survive, a run keeps the code it started with, leases are reclaimed at once, a full store
// loses nothing, and a corrupt database stops the server with a clear message.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "test/testing/server_process.h"
#include "test/testing/test_util.h"

namespace keel::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using client::HttpClient;
using client::Response;

std::string CrashWorkflows() {
  return ServerProcess::SourceDir() + "/test/integration/crash_workflows";
}

// The integer at a JSON pointer, or -1 when absent or not an integer.
int64_t Int(const json::value& v, std::string_view pointer) {
  json::value f = At(v, pointer);
  return f.is_int64() ? f.get_int64() : -1;
}

// POST /v1/runs without waiting; returns the run id ("" and a test failure otherwise).
std::string StartRun(HttpClient& c, const std::string& intent, const std::string& payload) {
  json::object env;
  env["intent"] = intent;
  env["payload"] = Parse(payload);
  return Str(Submit(c, env), "/id");
}

Response Signal(HttpClient& c, const std::string& id, const std::string& name,
                const std::string& payload) {
  return MustPost(c, "/v1/runs/" + id + "/signals/" + name, payload);
}

// Compares JSON values (object key order does not matter).
::testing::AssertionResult JsonEq(const json::value& actual, const std::string& expected) {
  if (actual == Parse(expected)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << json::serialize(actual) << " != " << expected;
}

// JSON log lines of every start so far.
std::vector<json::value> LogLines(const ServerProcess& server) {
  std::vector<json::value> out;
  std::istringstream in(server.Logs());
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] != '{') continue;
    json::value v = Parse(line);
    if (v.is_object()) out.push_back(std::move(v));
  }
  return out;
}

// A field of the `engine_started` line of the current start (-1 if absent).
int64_t EngineStarted(const ServerProcess& server, std::string_view pointer) {
  std::ifstream in(server.current_log());
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] != '{') continue;
    json::value v = Parse(line);
    if (Str(v, "/event") == "engine_started") return Int(v, pointer);
  }
  return -1;
}

// Live executions of each step of `run_id` (ctx.log("exec", name) lines).
std::map<std::string, int> Execs(const ServerProcess& server, const std::string& run_id) {
  std::map<std::string, int> out;
  for (const auto& v : LogLines(server)) {
    if (Str(v, "/event") != "workflow_log" || Str(v, "/run_id") != run_id) continue;
    std::string msg = Str(v, "/message");
    if (msg.rfind("exec ", 0) == 0) out[msg.substr(5)]++;
  }
  return out;
}

// Scalar query on a read-only connection to the server's database (-1 on failure).
int64_t CountRows(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  int64_t n = -1;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
  }
  EXPECT_NE(n, -1) << sql << ": " << sqlite3_errmsg(db);
  sqlite3_close(db);
  return n;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc | std::ios::binary);
  out << text;
  EXPECT_TRUE(out.good()) << "cannot write " << path;
}

::testing::AssertionResult Started(ServerProcess& server) {
  Status st = server.Start();
  if (st.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << st.error().message;
}

ServerProcess::Options WithWorkflows(std::string dir) {
  ServerProcess::Options o;
  o.workflows_dir = std::move(dir);
  return o;
}

// A temporary directory removed at the end of the test.
struct TempDir {
  std::string path = ServerProcess::MakeTempDir("keel-recovery-");
  ~TempDir() {
    std::error_code ec;
    if (!std::getenv("KEEL_KEEP_TEST_DIRS")) fs::remove_all(path, ec);
  }
};

TEST(RecoveryTest, DurableSleepSurvivesSigkill) {
  ServerProcess server(WithWorkflows(CrashWorkflows()));
  ASSERT_TRUE(Started(server));
  HttpClient c = server.Client();
  std::string id = StartRun(c, "durable_sleep", R"({"id":7,"sleep":"2s"})");
  ASSERT_FALSE(id.empty());
  json::value parked = WaitStatus(c, id, "waiting", 10'000);
  ASSERT_EQ(Str(parked, "/wait_reason"), "timer") << json::serialize(parked);
  int64_t wake_at = Int(parked, "/wake_at_ms");
  ASSERT_GT(wake_at, 0);

  server.Kill();
  ASSERT_TRUE(Started(server));
  EXPECT_EQ(EngineStarted(server, "/parked_timers"), 1) << "the timer was not re-armed";
  c = server.Client();
  // Still parked after the restart (unless its wake time already passed on a slow machine).
  json::value after_restart = GetRun(c, id);
  std::string status = Str(after_restart, "/status");
  EXPECT_TRUE(status == "waiting" || status == "running" || status == "succeeded") << status;

  json::value done = WaitStatus(c, id, "succeeded", 30'000);
  EXPECT_EQ(Int(done, "/result/id"), 7);
  EXPECT_EQ(Int(done, "/result/n"), 3);
  EXPECT_GE(Int(done, "/updated_at_ms"), wake_at) << "finished before its wake time";
  // The step after the sleep was journaled after the wake time.
  std::vector<std::string> names;
  for (const auto& e : Journal(c, id)) {
    names.push_back(Str(e, "/name"));
    if (Str(e, "/name") == "after") {
      EXPECT_GE(Int(e, "/created_at_ms"), wake_at);
    }
  }
  EXPECT_EQ(names, (std::vector<std::string>{"before-1", "before-2", "sleep", "after"}));

  std::map<std::string, int> execs = Execs(server, id);
  EXPECT_EQ(execs, (std::map<std::string, int>{{"before-1", 1}, {"before-2", 1}, {"after", 1}}))
      << "steps before the sleep must not run again after the restart";
}

TEST(RecoveryTest, SignalWaitSurvivesSigkill) {
  ServerProcess server(WithWorkflows(CrashWorkflows()));
  ASSERT_TRUE(Started(server));
  HttpClient c = server.Client();
  std::string id = StartRun(c, "signal_wait", R"({"id":1})");
  ASSERT_FALSE(id.empty());
  json::value parked = WaitStatus(c, id, "waiting", 10'000);
  EXPECT_EQ(Str(parked, "/wait_reason"), "signal:go");

  server.Kill();
  ASSERT_TRUE(Started(server));
  c = server.Client();
  json::value still = GetRun(c, id);
  EXPECT_EQ(Str(still, "/status"), "waiting") << json::serialize(still);
  EXPECT_EQ(Str(still, "/wait_reason"), "signal:go");

  Response sent = Signal(c, id, "go", R"({"approved":true,"by":"ana"})");
  EXPECT_EQ(sent.status, 202) << sent.body;
  json::value done = WaitStatus(c, id, "succeeded", 15'000);
  EXPECT_TRUE(JsonEq(done.at("result"), R"({"id":1,"got":{"approved":true,"by":"ana"}})"))
      << json::serialize(done);
  EXPECT_EQ(Execs(server, id), (std::map<std::string, int>{{"prepare", 1}, {"finish", 1}}));
}

TEST(RecoveryTest, SignalSentBeforeTheWaitIsBuffered) {
  ServerProcess server(WithWorkflows(CrashWorkflows()));
  ASSERT_TRUE(Started(server));
  HttpClient c = server.Client();
  std::string id = StartRun(c, "signal_wait", R"({"id":2,"delay":"300ms"})");
  ASSERT_FALSE(id.empty());
  Response sent = Signal(c, id, "go", R"({"early":true})");
  ASSERT_EQ(sent.status, 202) << sent.body;
  // The run had not reached ctx.signal yet: nothing in its journal names the signal.
  EXPECT_EQ(CountRows(server.db_path(), "SELECT COUNT(*) FROM journal WHERE run_id = '" + id +
                                            "' AND kind = 'signal'"),
            0)
      << "the signal was not sent early enough for this test to mean anything";

  json::value done = WaitStatus(c, id, "succeeded", 15'000);
  EXPECT_TRUE(JsonEq(done.at("result"), R"({"id":2,"got":{"early":true}})"))
      << json::serialize(done);
  EXPECT_EQ(CountRows(server.db_path(), "SELECT COUNT(*) FROM signals WHERE run_id = '" + id +
                                            "' AND consumed_seq > 0"),
            1);
}

TEST(RecoveryTest, RunKeepsTheCodeItStartedWith) {
  TempDir dir;
  const std::string file = dir.path + "/v.lua";
  WriteFile(file, R"lua(
return function(ctx, input)
  local a = ctx.step("old-prepare", function() return "old" end)
  local s = ctx.signal("go")
  local b = ctx.step("old-finish", function() return { got = s } end)
  return { version = a, got = b.got }
end
)lua");
  ServerProcess server(WithWorkflows(dir.path));
  ASSERT_TRUE(Started(server));
  HttpClient c = server.Client();
  std::string old_run = StartRun(c, "v", "{}");
  ASSERT_FALSE(old_run.empty());
  json::value parked = WaitStatus(c, old_run, "waiting", 10'000);
  std::string old_hash = Str(parked, "/code_hash");
  EXPECT_FALSE(old_hash.empty());
  auto stopped = server.Terminate();
  ASSERT_TRUE(stopped.ok()) << stopped.error().message;
  EXPECT_EQ(*stopped, 0);

  WriteFile(file, R"lua(
return function(ctx, input)
  local a = ctx.step("new-prepare", function() return "new" end)
  local s = ctx.signal("go")
  local b = ctx.step("new-finish", function() return { got = s, extra = 1 } end)
  return { version = a, got = b.got, extra = b.extra }
end
)lua");
  ASSERT_TRUE(Started(server));
  c = server.Client();
  Response sent = Signal(c, old_run, "go", "1");
  EXPECT_EQ(sent.status, 202) << sent.body;
  json::value old_done = WaitStatus(c, old_run, "succeeded", 15'000);
  EXPECT_TRUE(JsonEq(old_done.at("result"), R"({"version":"old","got":1})"))
      << json::serialize(old_done);
  EXPECT_EQ(Str(old_done, "/code_hash"), old_hash);

  std::string new_run = StartRun(c, "v", "{}");
  ASSERT_FALSE(new_run.empty());
  WaitStatus(c, new_run, "waiting", 10'000);
  sent = Signal(c, new_run, "go", "2");
  EXPECT_EQ(sent.status, 202) << sent.body;
  json::value new_done = WaitStatus(c, new_run, "succeeded", 15'000);
  EXPECT_TRUE(JsonEq(new_done.at("result"), R"({"version":"new","got":2,"extra":1})"))
      << json::serialize(new_done);
  EXPECT_NE(Str(new_done, "/code_hash"), old_hash);
  EXPECT_FALSE(Str(new_done, "/code_hash").empty());

  auto names = [&](const std::string& id) {
    std::vector<std::string> out;
    for (const auto& e : Journal(c, id)) out.push_back(Str(e, "/name"));
    return out;
  };
  EXPECT_EQ(names(old_run), (std::vector<std::string>{"old-prepare", "go", "old-finish"}));
  EXPECT_EQ(names(new_run), (std::vector<std::string>{"new-prepare", "go", "new-finish"}));
}

TEST(RecoveryTest, RestartReclaimsLeasesAtOnce) {
  constexpr int kRuns = 50;
  ServerProcess server(WithWorkflows(CrashWorkflows()));
  ASSERT_TRUE(Started(server));
  HttpClient c = server.Client();
  std::vector<std::string> ids;
  for (int i = 0; i < kRuns; ++i) {
    ids.push_back(StartRun(c, "paced_steps",
                           R"({"steps":5,"pause":"300ms","id":)" + std::to_string(i) + "}"));
    ASSERT_FALSE(ids.back().empty());
  }
  // All resident (running, holding a lease) and under way before the kill.
  const std::string db = server.db_path();
  ASSERT_TRUE(WaitFor(
      [&] {
        return CountRows(db, "SELECT COUNT(DISTINCT run_id) FROM journal") == kRuns &&
               CountRows(db,
                         "SELECT COUNT(*) FROM runs WHERE status = 'running' AND "
                         "lease_owner != ''") == kRuns;
      },
      10'000))
      << "the runs did not all start";
  server.Kill();

  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(Started(server));
  EXPECT_EQ(EngineStarted(server, "/recovered_runs"), kRuns)
      << "the restarted server did not take the dead one's leases over at start-up";
  bool all_done = WaitFor(
      [&] {
        return CountRows(db, "SELECT COUNT(*) FROM runs WHERE status = 'succeeded'") == kRuns;
      },
      10'000);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("recovery_test: %d resident runs finished %.2f s after the restart\n", kRuns, secs);
  EXPECT_TRUE(all_done) << CountRows(db, "SELECT COUNT(*) FROM runs WHERE status = 'succeeded'")
                        << " of " << kRuns
                        << " finished within 10 s of the restart (lease TTL is 15 s)";
}

TEST(RecoveryTest, FullStoreLosesNothing) {
  TempDir dir;
  const std::string config = dir.path + "/keel.toml";
  WriteFile(config, "[store]\nmax_page_count = 120\n");
  ServerProcess::Options opts = WithWorkflows(CrashWorkflows());
  opts.data_dir = dir.path + "/data";
  fs::create_directories(opts.data_dir);  // the server logs there from its first line
  opts.extra_args = {"--config", config};
  std::vector<std::string> acked;
  {
    ServerProcess full(opts);
    ASSERT_TRUE(Started(full));
    HttpClient c = full.Client();
    bool got_507 = false;
    std::string body_507;
    for (int i = 0; i < 2000 && !got_507; ++i) {
      auto r = c.Post("/v1/runs",
                      R"({"intent":"fill","payload":{"steps":4,"id":)" + std::to_string(i) + "}}");
      ASSERT_TRUE(r.ok()) << r.error().message;
      if (r->status == 507) {
        got_507 = true;
        body_507 = r->body;
        break;
      }
      ASSERT_TRUE(r->status == 202 || r->status == 200) << r->status << " " << r->body;
      acked.push_back(Str(Parse(r->body), "/id"));
    }
    ASSERT_TRUE(got_507) << "the store never filled up";
    EXPECT_EQ(Str(Parse(body_507), "/error/code"), "storage_full") << body_507;
    std::printf("recovery_test: store full after %zu acknowledged runs\n", acked.size());
    ASSERT_FALSE(acked.empty());

    // The server keeps serving reads, and no acknowledged run is lost or failed.
    auto health = c.Get("/healthz");
    ASSERT_TRUE(health.ok());
    EXPECT_EQ(health->status, 200) << health->body;
    int succeeded = 0, resumable = 0;
    for (const auto& id : acked) {
      json::value run = GetRun(c, id);
      std::string status = Str(run, "/status");
      if (status == "succeeded") {
        succeeded++;
      } else if (status == "queued" || status == "running" || status == "waiting") {
        resumable++;
      } else {
        ADD_FAILURE() << "acknowledged run " << id << " is " << json::serialize(run);
      }
    }
    std::printf("recovery_test: with the store full: %d succeeded, %d resumable\n", succeeded,
                resumable);
    // Runs whose journal write failed retry (every second); still full, they must stay
    // resumable rather than fail, and the server must stay up.
    if (resumable > 0) {
      auto retried = [&] {
        std::map<std::string, int> failures;
        for (const auto& v : LogLines(full)) {
          if (Str(v, "/event") == "run_write_failed" && ++failures[Str(v, "/run_id")] >= 2) {
            return true;
          }
        }
        return false;
      };
      EXPECT_TRUE(WaitFor(retried, 10'000)) << "no run retried its failed write";
      for (const auto& id : acked) {
        std::string status = Str(GetRun(c, id), "/status");
        EXPECT_TRUE(status == "succeeded" || status == "queued" || status == "running" ||
                    status == "waiting")
            << "acknowledged run " << id << " is " << status << " after a retry";
      }
    }
    health = c.Get("/healthz");
    ASSERT_TRUE(health.ok());
    EXPECT_EQ(health->status, 200);

    // A warning or error line says why (storage_full), not just a 507 to the client.
    bool logged = false;
    for (const auto& v : LogLines(full)) {
      std::string level = Str(v, "/level");
      if ((level == "warn" || level == "error") &&
          json::serialize(v).find("storage_full") != std::string::npos) {
        logged = true;
      }
    }
    EXPECT_TRUE(logged) << "no warn/error log line mentions storage_full:\n" << full.Logs();
    full.Kill();
  }

  // Without the cap every acknowledged run finishes.
  opts.extra_args.clear();
  ServerProcess roomy(opts);
  ASSERT_TRUE(Started(roomy));
  HttpClient c = roomy.Client();
  for (const auto& id : acked) {
    json::value run = WaitStatus(c, id, "succeeded", 30'000);
    EXPECT_EQ(Int(run, "/result/steps"), 4) << json::serialize(run);
  }
  EXPECT_EQ(
      CountRows(roomy.db_path(), "SELECT COUNT(*) FROM runs WHERE status NOT IN ('succeeded')"), 0);
}

TEST(RecoveryTest, CorruptDatabaseStopsStartWithAClearMessage) {
  TempDir dir;
  const std::string data = dir.path + "/data";
  fs::create_directories(data);
  std::string garbage;
  for (int i = 0; i < 512; ++i) garbage += "this is not a database, just garbage. ";
  WriteFile(data + "/keel.db", garbage);

  const std::string cmd = ServerProcess::KeelBinary() + " serve --data-dir " + data +
                          " --listen 127.0.0.1:0 --workflows " + CrashWorkflows();
  CommandResult r = RunCommand(cmd, /*merge_stderr=*/true);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  // One human line (besides the JSON log lines) names the file and says what is wrong.
  std::vector<std::string> human;
  std::istringstream in(r.output);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != '{') human.push_back(line);
  }
  ASSERT_EQ(human.size(), 1u) << r.output;
  EXPECT_NE(human[0].find(data + "/keel.db"), std::string::npos) << human[0];
  EXPECT_TRUE(human[0].find("not a database") != std::string::npos ||
              human[0].find("corrupt") != std::string::npos)
      << human[0];
  // The garbage is left as it was, for a person to look at.
  std::ifstream in_db(data + "/keel.db", std::ios::binary);
  std::stringstream buf;
  buf << in_db.rdbuf();
  EXPECT_EQ(buf.str(), garbage);
}

}  // namespace
}  // namespace keel::testing
