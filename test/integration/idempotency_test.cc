// Idempotent admission on a real `keel serve`: the same envelope sent concurrently makes one
// run; a key or run_id reused with another payload is a conflict; keys are per tenant.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <boost/json.hpp>
#include <latch>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test/testing/server_process.h"
#include "test/testing/test_util.h"

namespace keel::testing {
namespace {

namespace json = boost::json;
using client::HttpClient;
using client::Response;

bool Replayed(const Response& r) {
  auto it = r.headers.find("keel-idempotent-replay");
  return it != r.headers.end() && it->second == "true";
}

void ExpectConflict(const Response& r) {
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(Str(Parse(r.body), "/error/code"), "conflict") << r.body;
}

// Run ids listed under `query` (one page of up to 500).
std::vector<std::string> ListIds(HttpClient& c, const std::string& query) {
  Response r = MustGet(c, "/v1/runs?limit=500&" + query);
  EXPECT_EQ(r.status, 200) << r.body;
  std::vector<std::string> ids;
  json::value v = Parse(r.body);
  if (auto* runs = v.is_object() ? v.get_object().if_contains("runs") : nullptr;
      runs && runs->is_array()) {
    for (const auto& run : runs->get_array()) ids.push_back(Str(run, "/id"));
  }
  return ids;
}

// Rows of the runs table with this idempotency key, read straight from the SQLite file.
int64_t RunRowsWithKey(const std::string& db_path, const std::string& key) {
  sqlite3* db = nullptr;
  int64_t n = -1;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM runs WHERE idempotency_key = ?", -1, &st,
                           nullptr) == SQLITE_OK) {
      sqlite3_bind_text(st, 1, key.c_str(), -1, SQLITE_TRANSIENT);
      if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
  }
  EXPECT_GE(n, 0) << "cannot read " << db_path << ": " << (db ? sqlite3_errmsg(db) : "");
  sqlite3_close(db);
  return n;
}

class IdempotencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Status st = server_.Start();
    ASSERT_TRUE(st.ok()) << st.error().message;
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "server log " << server_.current_log() << "\n";
  }

  ServerProcess server_{ServerProcess::Options{.workflows_dir = TestWorkflows()}};
};

TEST_F(IdempotencyTest, FiftyConcurrentSubmitsMakeOneRun) {
  constexpr int kThreads = 50;
  const std::string envelope =
      R"({"intent":"paced","idempotency_key":"k-50","payload":{"n":2,"pause":"50ms"}})";
  std::vector<Response> responses(kThreads);
  std::vector<std::string> transport_errors(kThreads);
  std::latch connected(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      HttpClient c = server_.Client();
      // Open the connection first, so the POSTs themselves go out together.
      auto warm = c.Get("/healthz");
      if (!warm.ok()) transport_errors[i] = "healthz: " + warm.error().message;
      connected.arrive_and_wait();
      auto r = c.Post("/v1/runs", envelope);
      if (r.ok()) {
        responses[i] = *r;
      } else {
        transport_errors[i] = r.error().message;
      }
    });
  }
  for (auto& t : threads) t.join();

  std::set<std::string> ids;
  int fresh = 0;
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_TRUE(transport_errors[i].empty()) << "thread " << i << ": " << transport_errors[i];
    const Response& r = responses[i];
    EXPECT_TRUE(r.status == 200 || r.status == 202) << "thread " << i << ": " << r.body;
    std::string id = Str(Parse(r.body), "/id");
    EXPECT_FALSE(id.empty()) << r.body;
    ids.insert(id);
    if (!Replayed(r)) ++fresh;
  }
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(fresh, 1) << "exactly one response should be the admission, the rest replays";

  HttpClient c = server_.Client();
  std::vector<std::string> listed = ListIds(c, "intent=paced");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0], *ids.begin());
  EXPECT_EQ(RunRowsWithKey(server_.db_path(), "k-50"), 1);

  // Once finished, the same envelope answers 200 with the same run, marked as a replay.
  ASSERT_TRUE(WaitFor(
      [&] {
        return Str(Parse(MustGet(c, "/v1/runs/" + *ids.begin()).body), "/status") == "succeeded";
      },
      20'000));
  Response again = MustPost(c, "/v1/runs", envelope);
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(Str(Parse(again.body), "/id"), *ids.begin());
  EXPECT_TRUE(Replayed(again));
}

TEST_F(IdempotencyTest, KeysAndRunIdsConflictOnAnotherPayloadAndArePerTenant) {
  HttpClient c = server_.Client();
  Response first =
      MustPost(c, "/v1/runs", R"({"intent":"steps","idempotency_key":"k1","payload":{"n":1}})");
  ASSERT_TRUE(first.status == 200 || first.status == 202) << first.body;
  std::string id = Str(Parse(first.body), "/id");
  ASSERT_FALSE(id.empty());
  EXPECT_FALSE(Replayed(first));

  // Same key, same payload: the same run.
  Response same =
      MustPost(c, "/v1/runs", R"({"intent":"steps","idempotency_key":"k1","payload":{"n":1}})");
  EXPECT_TRUE(same.status == 200 || same.status == 202) << same.body;
  EXPECT_EQ(Str(Parse(same.body), "/id"), id);
  EXPECT_TRUE(Replayed(same));

  // Same key, another payload (or intent): conflict.
  ExpectConflict(
      MustPost(c, "/v1/runs", R"({"intent":"steps","idempotency_key":"k1","payload":{"n":2}})"));
  ExpectConflict(
      MustPost(c, "/v1/runs", R"({"intent":"hello","idempotency_key":"k1","payload":{"n":1}})"));

  // Same key in another tenant: a separate run.
  Response other = MustPost(c, "/v1/runs",
                            R"({"intent":"steps","idempotency_key":"k1","payload":{"n":1},
                                "caller":{"tenant":"acme"}})");
  ASSERT_TRUE(other.status == 200 || other.status == 202) << other.body;
  std::string other_id = Str(Parse(other.body), "/id");
  EXPECT_FALSE(other_id.empty());
  EXPECT_NE(other_id, id);
  EXPECT_FALSE(Replayed(other));
  EXPECT_EQ(Str(Parse(other.body), "/caller/tenant"), "acme");
  EXPECT_EQ(ListIds(c, "intent=steps&tenant=default"), std::vector<std::string>{id});
  EXPECT_EQ(ListIds(c, "intent=steps&tenant=acme"), std::vector<std::string>{other_id});

  // A caller-chosen run_id behaves like a key.
  const std::string with_id = R"({"run_id":"idem-run-1","intent":"steps","payload":{"n":1}})";
  Response a = MustPost(c, "/v1/runs", with_id);
  ASSERT_TRUE(a.status == 200 || a.status == 202) << a.body;
  EXPECT_EQ(Str(Parse(a.body), "/id"), "idem-run-1");
  Response b = MustPost(c, "/v1/runs", with_id);
  EXPECT_TRUE(b.status == 200 || b.status == 202) << b.body;
  EXPECT_EQ(Str(Parse(b.body), "/id"), "idem-run-1");
  EXPECT_TRUE(Replayed(b));
  ExpectConflict(
      MustPost(c, "/v1/runs", R"({"run_id":"idem-run-1","intent":"steps","payload":{"n":3}})"));

  // Exactly the three runs above exist.
  std::vector<std::string> all = ListIds(c, "intent=steps");
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()),
            (std::set<std::string>{id, other_id, "idem-run-1"}));
  EXPECT_EQ(all.size(), 3u);
}

}  // namespace
}  // namespace keel::testing
