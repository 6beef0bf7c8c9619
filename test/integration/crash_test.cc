// The crash test: a real `keel serve` is SIGKILLed at random moments, several times in a row,
// while runs execute and new ones are being submitted; after the last restart every
// acknowledged run must finish exactly once with the right result, the journals must be
// intact, and steps may have been re-executed only where a kill caught them in flight.
//
// KEEL_CRASH_SEED=<seed printed in the output> replays the same kill delays and submission
// pacing (thread timing still varies). KEEL_KEEP_TEST_DIRS=1 keeps the data directory (the
// database and every start's server log) for a post-mortem.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test/testing/server_process.h"
#include "test/testing/test_util.h"

namespace keel::testing {
namespace {

namespace json = boost::json;
using client::HttpClient;

constexpr int kKills = 8;         // SIGKILLs in a row, each followed by a restart
constexpr int kTargetRuns = 400;  // acknowledged runs to reach over all incarnations
constexpr int kSubmitters = 4;    // threads submitting concurrently
constexpr int kSteps = 10;        // ctx.step calls in ten_steps.lua
constexpr int kMinKillMs = 50;    // kill window after each (re)start
constexpr int kMaxKillMs = 400;
// A wave is paced to last about this long, so most kills cut one off while many runs are
// still in flight.
constexpr int kWaveMs = (kMinKillMs + kMaxKillMs) / 2;
constexpr int kFinishDeadlineMs = 120'000;

std::string CrashWorkflows() {
  return ServerProcess::SourceDir() + "/test/integration/crash_workflows";
}

// acc_i of ten_steps.lua, i = 0..kSteps (acc_0 is the input id).
std::vector<int64_t> ExpectedAccs(int64_t id) {
  std::vector<int64_t> acc{id};
  for (int64_t i = 1; i <= kSteps; ++i) acc.push_back((acc.back() * 31 + i * 7919) % 1000000007);
  return acc;
}

std::optional<json::value> TryParse(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return std::nullopt;
  return v;
}

std::optional<int64_t> Int(const json::value& v, std::string_view pointer) {
  boost::system::error_code ec;
  const json::value* found = v.find_pointer(pointer, ec);
  if (!found || !found->is_int64()) return std::nullopt;
  return found->get_int64();
}

// A read-only connection to the server's database, for checking invariants from outside.
class ReadOnlyDb {
 public:
  explicit ReadOnlyDb(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << "cannot open " << path << ": " << sqlite3_errmsg(db_);
      sqlite3_close(db_);
      db_ = nullptr;
      return;
    }
    sqlite3_busy_timeout(db_, 5000);
  }
  ~ReadOnlyDb() { sqlite3_close(db_); }
  ReadOnlyDb(const ReadOnlyDb&) = delete;
  ReadOnlyDb& operator=(const ReadOnlyDb&) = delete;

  // Calls `row` with each result row's columns as text (NULL reads as "").
  bool Query(const std::string& sql, const std::function<void(std::vector<std::string>)>& row) {
    if (!db_) return false;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
      return false;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      std::vector<std::string> cols;
      for (int i = 0; i < sqlite3_column_count(st); ++i) {
        const unsigned char* p = sqlite3_column_text(st, i);
        cols.emplace_back(p ? reinterpret_cast<const char*>(p) : "");
      }
      row(std::move(cols));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
      return false;
    }
    return true;
  }

  int64_t Count(const std::string& sql) {
    int64_t n = -1;
    Query(sql, [&](std::vector<std::string> cols) { n = std::stoll(cols.at(0)); });
    return n;
  }

 private:
  sqlite3* db_ = nullptr;
};

struct Acked {
  std::string run_id;
  int64_t id = 0;  // the payload id the result derives from
};

// What the submitters of one incarnation did.
struct Wave {
  std::mutex mu;
  std::vector<Acked> acked;
  std::vector<std::string> unexpected;  // non-2xx answers and failures of a live server
  std::atomic<int> lost{0};             // requests cut off by the kill: not acknowledged
};

// Submits up to `quota` runs from kSubmitters threads, each pausing about `gap_ms` (jittered)
// between requests so that the wave spans the kill window. A thread stops at its first
// transport failure when the server is being killed (`may_die`).
void SubmitWave(int port, int quota, int gap_ms, bool may_die, uint64_t seed,
                std::atomic<int64_t>& next_id, std::atomic<bool>& killed, Wave& wave) {
  std::atomic<int> issued{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kSubmitters; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed * 7919 + static_cast<uint64_t>(t));
      std::uniform_int_distribution<int> jitter(0, std::max(0, 2 * gap_ms));
      HttpClient client("127.0.0.1", port, 15'000);
      while (issued.fetch_add(1) < quota) {
        int64_t id = next_id.fetch_add(1);
        auto r = client.Post(
            "/v1/runs", R"({"intent":"ten_steps","payload":{"id":)" + std::to_string(id) + "}}");
        if (!r.ok()) {
          if (may_die) {
            wave.lost++;
            return;
          }
          std::lock_guard lock(wave.mu);
          wave.unexpected.push_back("POST id " + std::to_string(id) + ": " + r.error().message);
          continue;
        }
        if (r->status != 200 && r->status != 202) {
          std::lock_guard lock(wave.mu);
          wave.unexpected.push_back("POST id " + std::to_string(id) + ": HTTP " +
                                    std::to_string(r->status) + " " + r->body);
          continue;
        }
        auto body = TryParse(r->body);
        std::string run_id = body ? Str(*body, "/id") : "";
        {
          std::lock_guard lock(wave.mu);
          if (run_id.empty()) {
            wave.unexpected.push_back("POST id " + std::to_string(id) + ": no run id in " +
                                      r->body);
          } else {
            wave.acked.push_back({run_id, id});
          }
        }
        if (gap_ms > 0 && !killed) {
          std::this_thread::sleep_for(std::chrono::milliseconds(jitter(rng)));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
}

// Per run: how many `run_finished` lines, how many live executions of each step, and which
// start (1-based) last executed a step of it.
struct LogCounts {
  std::map<std::string, int> finished;
  std::map<std::string, std::map<int, int>> execs;  // run id -> step -> executions
  std::map<std::string, int> last_exec_start;
  int unparsable = 0;
};

LogCounts CountLogLines(const ServerProcess& server) {
  LogCounts out;
  for (int start = 1; start <= server.starts(); ++start) {
    std::ifstream in(server.log_of_start(start));
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] != '{') continue;  // "keel serve: ..." lines
      auto v = TryParse(line);
      if (!v) {
        out.unparsable++;
        continue;
      }
      std::string event = Str(*v, "/event");
      if (event == "run_finished") {
        out.finished[Str(*v, "/run_id")]++;
      } else if (event == "workflow_log") {
        std::string msg = Str(*v, "/message");
        if (msg.rfind("exec ", 0) != 0) continue;
        std::string run = Str(*v, "/run_id");
        out.execs[run][std::stoi(msg.substr(5))]++;
        out.last_exec_start[run] = start;
      }
    }
  }
  return out;
}

uint64_t Seed() {
  if (const char* s = std::getenv("KEEL_CRASH_SEED")) return std::strtoull(s, nullptr, 10);
  return std::random_device{}();
}

TEST(CrashTest, RunsSurviveRepeatedSigkill) {
  const uint64_t seed = Seed();
  std::printf("crash_test: seed %" PRIu64 " (rerun with KEEL_CRASH_SEED=%" PRIu64 ")\n", seed,
              seed);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> kill_delay(kMinKillMs, kMaxKillMs);

  ServerProcess::Options opts;
  opts.workflows_dir = CrashWorkflows();
  ServerProcess server(opts);
  std::printf("crash_test: data dir %s\n", server.data_dir().c_str());

  std::vector<Acked> acked;
  std::vector<std::string> unexpected;
  std::atomic<int64_t> next_id{1};
  int lost = 0;
  int64_t resident_at_kills = 0;  // sum over kills of runs that could have a step in flight
  auto t0 = std::chrono::steady_clock::now();

  for (int round = 0; round <= kKills; ++round) {
    Status started = server.Start();
    ASSERT_TRUE(started.ok()) << "start " << round + 1 << ": " << started.error().message;
    const bool last = round == kKills;
    const int remaining = std::max(0, kTargetRuns - static_cast<int>(acked.size()));
    // Spread what is left over the remaining incarnations; a wave spans the kill window.
    const int quota = last ? remaining : (remaining + kKills - round) / (kKills + 1 - round);
    const int gap_ms = last || quota == 0 ? 0 : kSubmitters * kWaveMs / quota;
    const int delay_ms = kill_delay(rng);
    std::atomic<bool> killed{false};
    Wave wave;
    std::thread submitters([&] {
      SubmitWave(server.port(), quota, gap_ms, !last, seed + static_cast<uint64_t>(round), next_id,
                 killed, wave);
    });
    int64_t resident = 0;
    if (!last) {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      server.Kill();
      killed = true;
      // Runs the dead server held (queued or running) are the only ones that can have had a
      // step in flight; parked and finished runs cannot.
      ReadOnlyDb db(server.db_path());
      resident = db.Count("SELECT COUNT(*) FROM runs WHERE status IN ('queued', 'running')");
      EXPECT_GE(resident, 0);
      resident_at_kills += std::max<int64_t>(resident, 0);
    }
    submitters.join();
    acked.insert(acked.end(), wave.acked.begin(), wave.acked.end());
    unexpected.insert(unexpected.end(), wave.unexpected.begin(), wave.unexpected.end());
    lost += wave.lost;
    if (last) {
      std::printf("crash_test: start %d: no kill, %zu acknowledged\n", round + 1,
                  wave.acked.size());
    } else {
      std::printf(
          "crash_test: start %d: SIGKILL after %d ms; %zu acknowledged, %d cut off, %" PRId64
          " runs resident at the kill\n",
          round + 1, delay_ms, wave.acked.size(), wave.lost.load(), resident);
    }
  }
  EXPECT_TRUE(unexpected.empty()) << unexpected.size() << " unexpected answers, first: "
                                  << (unexpected.empty() ? "" : unexpected.front());
  ASSERT_GE(acked.size(), 200u) << "too few acknowledged runs to mean anything";

  // Every acknowledged run reaches a terminal status on the last incarnation.
  {
    ReadOnlyDb db(server.db_path());
    const std::string active =
        "SELECT COUNT(*) FROM runs WHERE status IN ('queued', 'running', 'waiting')";
    bool done = WaitFor([&] { return db.Count(active) == 0; }, kFinishDeadlineMs);
    ASSERT_TRUE(done) << db.Count(active) << " runs still active after " << kFinishDeadlineMs
                      << " ms; see " << server.data_dir();
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("crash_test: %zu acknowledged runs finished after %d kills in %.1f s\n", acked.size(),
              kKills, secs);

  // The API's view: each acknowledged run succeeded with exactly the expected result.
  HttpClient client = server.Client();
  int wrong = 0;
  for (const Acked& a : acked) {
    auto r = client.Get("/v1/runs/" + a.run_id);
    ASSERT_TRUE(r.ok()) << r.error().message;
    auto v = TryParse(r->body);
    ASSERT_TRUE(r->status == 200 && v) << a.run_id << ": " << r->status << " " << r->body;
    std::vector<int64_t> acc = ExpectedAccs(a.id);
    bool ok = Str(*v, "/status") == "succeeded" && Int(*v, "/result/id") == a.id &&
              Int(*v, "/result/steps") == kSteps && Int(*v, "/result/acc") == acc.back();
    if (!ok && ++wrong <= 5) {
      ADD_FAILURE() << "run " << a.run_id << " (id " << a.id << ", expected acc " << acc.back()
                    << "): " << r->body;
    }
  }
  EXPECT_EQ(wrong, 0) << "acknowledged runs without the expected result";

  // The store's view of every run it holds, acknowledged or not.
  ReadOnlyDb db(server.db_path());
  std::string integrity;
  db.Query("PRAGMA integrity_check", [&](std::vector<std::string> cols) {
    integrity += (integrity.empty() ? "" : "; ") + cols.at(0);
  });
  EXPECT_EQ(integrity, "ok");

  std::map<std::string, int64_t> payload_id;  // run id -> payload id
  std::map<std::string, std::string> statuses;
  db.Query("SELECT id, status, payload, result FROM runs", [&](std::vector<std::string> c) {
    statuses[c[0]] = c[1];
    auto payload = TryParse(c[2]);
    auto result = TryParse(c[3]);
    int64_t id = payload ? Int(*payload, "/id").value_or(-1) : -1;
    payload_id[c[0]] = id;
    EXPECT_EQ(c[1], "succeeded") << "run " << c[0];
    EXPECT_TRUE(result && Int(*result, "/acc") == ExpectedAccs(id).back())
        << "run " << c[0] << " result " << c[3];
  });
  for (const Acked& a : acked) {
    EXPECT_EQ(payload_id.count(a.run_id), 1u) << "acknowledged run " << a.run_id << " is lost";
  }
  std::set<int64_t> distinct_ids;
  for (const auto& [run, id] : payload_id) distinct_ids.insert(id);
  EXPECT_EQ(distinct_ids.size(), payload_id.size()) << "one submission made two runs";

  // Journals: seq 1..n, and exactly sleep, step-1, sleep, step-2, ... with the expected values.
  std::map<std::string, std::vector<std::vector<std::string>>> journals;
  db.Query("SELECT run_id, seq, kind, name, result FROM journal ORDER BY run_id, seq",
           [&](std::vector<std::string> c) {
             std::string run = c[0];
             journals[run].push_back(std::move(c));
           });
  int bad_journals = 0;
  for (const auto& [run, status] : statuses) {
    const auto& entries = journals[run];
    std::vector<int64_t> acc = ExpectedAccs(payload_id[run]);
    std::set<std::string> step_names;
    std::ostringstream why;
    if (entries.size() != 2 * kSteps) why << entries.size() << " entries; ";
    for (size_t i = 0; i < entries.size(); ++i) {
      const auto& e = entries[i];
      if (std::stoll(e[1]) != static_cast<int64_t>(i) + 1) {
        why << "seq " << e[1] << " at position " << i + 1 << "; ";
      }
      if (e[2] == "step" && !step_names.insert(e[3]).second) why << e[3] << " twice; ";
      int step = static_cast<int>(i / 2) + 1;
      if (i % 2 == 0 && (e[2] != "sleep" || e[3] != "sleep")) {
        why << "entry " << i + 1 << " " << e[2] << "; ";
      }
      if (i % 2 == 1) {
        auto r = TryParse(e[4]);
        if (e[2] != "step" || e[3] != "step-" + std::to_string(step) ||
            !(r && Int(*r, "/acc") == acc[step])) {
          why << "entry " << i + 1 << " " << e[2] << " " << e[3] << " " << e[4] << "; ";
        }
      }
    }
    if (!why.str().empty() && ++bad_journals <= 5) {
      ADD_FAILURE() << "journal of run " << run << ": " << why.str();
    }
  }
  EXPECT_EQ(bad_journals, 0);

  // Logs: each run finished exactly once; each step ran at least once, and again only when a
  // kill caught it in flight.
  LogCounts logs = CountLogLines(server);
  EXPECT_EQ(logs.unparsable, 0) << "torn log lines";
  // A second line would mean a second terminal transition: never allowed. A missing line is
  // allowed only when the run may have finished in a start that was then SIGKILLed: the line is
  // written after the terminal commit (LocalEngine::Finish), and a log file is not atomic with
  // the database, whose single terminal row (checked above) is the record of finishing once.
  // A run whose last step ran in the final start, which is never killed, must have its line.
  int finished_twice = 0, finish_unlogged = 0, lost_to_kill = 0;
  for (const auto& [run, status] : statuses) {
    int n = logs.finished.count(run) ? logs.finished.at(run) : 0;
    if (n == 1) continue;
    int start = logs.last_exec_start.count(run) ? logs.last_exec_start.at(run) : 0;
    if (n == 0 && start < server.starts()) {
      ++lost_to_kill;
      continue;
    }
    (n == 0 ? finish_unlogged : finished_twice)++;
    if (finished_twice + finish_unlogged <= 5) {
      ADD_FAILURE() << "run " << run << " has " << n << " run_finished lines; its last step ran "
                    << "in start " << start << " of " << server.starts();
    }
  }
  for (const auto& [run, n] : logs.finished) {
    EXPECT_TRUE(statuses.count(run)) << "run_finished for unknown run " << run;
  }
  EXPECT_EQ(finished_twice, 0) << "runs with more than one run_finished line";
  EXPECT_EQ(finish_unlogged, 0) << "runs finished in the final start without a run_finished line";
  std::printf("run_finished lines lost to a SIGKILL after the terminal commit: %d\n", lost_to_kill);

  int64_t executions = 0, duplicates = 0, max_per_step = 0;
  int never_ran = 0, ran_too_often = 0;
  for (const auto& [run, status] : statuses) {
    const auto& steps = logs.execs[run];
    for (int s = 1; s <= kSteps; ++s) {
      int n = steps.count(s) ? steps.at(s) : 0;
      executions += n;
      duplicates += std::max(0, n - 1);
      max_per_step = std::max<int64_t>(max_per_step, n);
      if (n < 1 && ++never_ran <= 5) {
        ADD_FAILURE() << "run " << run << " step-" << s << " never executed live";
      }
      if (n > 1 + kKills && ++ran_too_often <= 5) {
        ADD_FAILURE() << "run " << run << " step-" << s << " executed " << n << " times in "
                      << kKills << " kills";
      }
    }
  }
  EXPECT_EQ(never_ran, 0);
  EXPECT_EQ(ran_too_often, 0);
  std::printf(
      "crash_test: %zu runs in the store (%zu acknowledged, %d submissions cut off), %" PRId64
      " step executions, %" PRId64 " re-executions (bound %" PRId64 "), at most %" PRId64
      " per step\n",
      statuses.size(), acked.size(), lost, executions, duplicates, resident_at_kills, max_per_step);
  EXPECT_LE(duplicates, resident_at_kills)
      << "more re-executions than steps that could have been in flight at the kills";
}

}  // namespace
}  // namespace keel::testing
