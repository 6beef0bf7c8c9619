// keel_bench: the reference workloads W1-W4 of docs/PERFORMANCE.md against a real `keel serve`,
// and G1-G2 (the model gateway and the agent loop, gateway_bench.cc) against a real
// `keel serve` whose model provider is a real `keel-llm-sim`.
//
//   keel_bench summary RESULTS_DIR      (the table bench/run_all.sh prints)
//   keel_bench w1|w2|w3|w4|g1|g2 [--n N] [--c C] [--warmup N] [--label L] [--keel BIN]
//              [--sim BIN] [--workflows DIR] [--work-dir DIR] [--timeout-s S] [--keep]
//              [--server-arg ARG]... [--perf FILE] [--crash-after-ms MS] [--calls K]
//              [--sim-latency-ms MS] [--synchronous full|normal|off]
//              [--agent-stream true|false]
//
// Each invocation starts its own server (fresh data directory under --work-dir, default
// $TMPDIR or /tmp; only 127.0.0.1), runs one workload, prints one JSON line of results on
// stdout (progress goes to stderr) and stops the server. A watchdog ends the workload with an
// error line if it runs longer than --timeout-s (default 300). Exit status: 0 ok, 1 the
// workload saw errors, 2 usage, 3 timeout.

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_support.h"
#include "bench/gateway_bench.h"
#include "bench/summary.h"
#include "bench/workload.h"
#include "client/http_client.h"

namespace json = boost::json;
namespace fs = std::filesystem;

namespace keel::bench {
namespace {

// Counts runs of `intent` with `status` through GET /v1/runs paging; -1 on error.
int64_t CountListed(int port, const std::string& intent, const std::string& status) {
  client::HttpClient c("127.0.0.1", port, 60'000);
  int64_t n = 0;
  std::string cursor;
  for (int page = 0; page < 1000; ++page) {
    std::string target = "/v1/runs?intent=" + intent + "&status=" + status + "&limit=500";
    if (!cursor.empty()) target += "&cursor=" + client::UrlEncode(cursor);
    auto r = c.Get(target);
    if (!r || r->status != 200) return -1;
    boost::system::error_code ec;
    json::value v = json::parse(r->body, ec);
    if (ec || !v.is_object()) return -1;
    const auto* runs = v.get_object().if_contains("runs");
    if (!runs || !runs->is_array()) return -1;
    n += static_cast<int64_t>(runs->get_array().size());
    const auto* next = v.get_object().if_contains("next_cursor");
    if (!next || !next->is_string() || runs->get_array().empty()) return n;
    cursor = std::string(next->get_string());
  }
  return n;
}

// --- W1 / W2: closed-loop submit-and-wait ----------------------------------------------------

json::object RunLoad(const Options& o, int n, int c, int warmup) {
  Fixture fx;
  StartFixture(o, fx);
  ServerProcess& server = *fx.server;
  std::vector<client::HttpClient> clients;
  for (int i = 0; i < c; ++i) clients.emplace_back("127.0.0.1", server.port(), 60'000);
  std::string prefix = o.label.empty() ? o.workload : o.label;

  Errors warm_errs;
  ClosedLoop(warmup, c, [&](int t, int i) {
    (void)SubmitAndWait(clients[t], prefix + "-warm-" + Pad(i, 6), warm_errs);
  });
  if (warm_errs.count() > 0) {
    Fail(o, "warm-up errors: " + json::serialize(warm_errs.first()), &fx);
  }
  Progress(o, "warm-up done (" + std::to_string(warmup) + "), measuring " + std::to_string(n) +
                  " workflows with " + std::to_string(c) + " clients");

  pid_t perf = -1;
  if (!o.perf_out.empty()) {
    std::vector<std::string> args{
        "perf", "record",       "-e",          "cpu-clock", "-F",
        "999",  "--call-graph", "dwarf,32768", "-p",        std::to_string(server.pid()),
        "-o",   o.perf_out};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    perf = fork();
    if (perf == 0) {
      int devnull = ::open("/dev/null", O_WRONLY);
      if (devnull >= 0) dup2(devnull, STDOUT_FILENO);
      execvp("perf", argv.data());
      _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let perf attach
    Progress(o, "perf record -> " + o.perf_out);
  }

  auto m0 = ScrapeMetrics(server.port());
  std::vector<std::vector<double>> lat(static_cast<size_t>(c));
  Errors errs;
  ProcMonitor mon(server.pid(), 50);
  double client_cpu0 = SelfCpuSeconds();
  double busy0 = MachineBusyCpuSeconds();
  mon.Start();
  auto t0 = SteadyClock::now();
  ClosedLoop(n, c, [&](int t, int i) {
    if (auto ms = SubmitAndWait(clients[t], prefix + "-" + Pad(i, 6), errs)) {
      lat[static_cast<size_t>(t)].push_back(*ms);
    }
  });
  double wall = SecondsSince(t0);
  ProcMonitor::Window w = mon.Stop();
  double client_cpu = SelfCpuSeconds() - client_cpu0;
  double busy = MachineBusyCpuSeconds() - busy0;
  if (perf > 0) {
    ::kill(perf, SIGINT);
    int status = 0;
    waitpid(perf, &status, 0);
  }
  auto m1 = ScrapeMetrics(server.port());

  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  double sum = 0, mx = 0;
  for (double x : all) {
    sum += x;
    mx = std::max(mx, x);
  }
  double ok = static_cast<double>(all.size());
  json::object out = Header(o, fx.load0, fx.fdatasync_us);
  out["n"] = n;
  out["c"] = c;
  out["warmup"] = warmup;
  out["ok"] = static_cast<int64_t>(all.size());
  out["errors"] = errs.count();
  out["first_errors"] = errs.first();
  out["wall_s"] = Round(wall, 3);
  out["wf_per_s"] = Round(ok / wall, 1);
  out["steps_per_s"] = Round(ok * 10 / wall, 1);
  double p50 = Percentile(all, 50), p99 = Percentile(all, 99);
  out["lat_p50_ms"] = Round(p50, 3);
  out["lat_p99_ms"] = Round(p99, 3);
  out["lat_mean_ms"] = Round(ok > 0 ? sum / ok : 0, 3);
  out["lat_max_ms"] = Round(mx, 3);
  out["step_p50_ms"] = Round(p50 / 10, 4);
  out["step_p99_ms"] = Round(p99 / 10, 4);
  out["server_cpu_s"] = Round(w.cpu_s, 2);
  out["server_cpu_util"] = Round(w.cpu_s / w.wall_s, 3);
  out["server_peak_rss_mb"] = Round(w.peak_rss_mb, 1);
  out["client_cpu_s"] = Round(client_cpu, 2);
  // CPU time the rest of the machine used during the window (2 vCPUs: 2 s per second exist).
  out["other_cpu_s"] = Round(busy - w.cpu_s - client_cpu, 2);
  if (m0 && m1) {
    // The server's own view: ctx.step call -> journal entry committed -> workflow resumed.
    auto ms = [](double s) { return s < 0 ? s : Round(s * 1000, 4); };
    out["srv_step_count"] = HistogramCount(*m0, *m1, "keel_step_seconds");
    out["srv_step_p50_ms"] = ms(HistogramQuantile(*m0, *m1, "keel_step_seconds", 0.5));
    out["srv_step_p99_ms"] = ms(HistogramQuantile(*m0, *m1, "keel_step_seconds", 0.99));
    out["srv_step_mean_ms"] = ms(HistogramMean(*m0, *m1, "keel_step_seconds"));
    out["srv_commits"] = HistogramCount(*m0, *m1, "keel_store_commit_seconds");
    out["srv_commit_mean_ms"] = ms(HistogramMean(*m0, *m1, "keel_store_commit_seconds"));
    out["srv_commit_batch_mean"] =
        Round(HistogramMean(*m0, *m1, "keel_store_commit_batch_size"), 2);
  }
  if (!server.Alive()) Fail(o, "the server died: " + server.exit_text(), &fx);
  server.Terminate();
  return out;
}

// --- W3: crash and recovery ------------------------------------------------------------------

struct StepKey {
  std::string run_id;
  int step;
  bool operator<(const StepKey& b) const {
    return run_id != b.run_id ? run_id < b.run_id : step < b.step;
  }
};

// Adds every "exec <i>" workflow_log line of a log file to `execs`.
void CountExecs(const std::string& log, std::map<StepKey, int>& execs) {
  LogTail tail(log);
  tail.Poll([&](const std::string& line) {
    if (line.find("\"workflow_log\"") == std::string::npos) return;
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    if (ec || !v.is_object()) return;
    const auto& o = v.get_object();
    const auto* id = o.if_contains("run_id");
    const auto* msg = o.if_contains("message");
    if (!id || !id->is_string() || !msg || !msg->is_string()) return;
    std::string m(msg->get_string());
    if (m.rfind("exec ", 0) != 0) return;
    execs[{std::string(id->get_string()), std::atoi(m.c_str() + 5)}]++;
  });
}

struct JournalAtKill {
  std::set<StepKey> steps;          // (run, step) whose result was journaled
  std::set<std::string> succeeded;  // runs already succeeded
  std::string error;
};

JournalAtKill ReadJournal(const std::string& db_path) {
  JournalAtKill j;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    j.error = std::string("open ") + db_path + ": " + (db ? sqlite3_errmsg(db) : "?");
    sqlite3_close(db);
    return j;
  }
  auto query = [&](const char* sql, const std::function<void(sqlite3_stmt*)>& row) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) {
      j.error = std::string(sql) + ": " + sqlite3_errmsg(db);
      return;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) row(st);
    if (rc != SQLITE_DONE) j.error = std::string(sql) + ": " + sqlite3_errmsg(db);
    sqlite3_finalize(st);
  };
  auto text = [](sqlite3_stmt* st, int col) {
    const unsigned char* t = sqlite3_column_text(st, col);
    return t ? std::string(reinterpret_cast<const char*>(t)) : std::string();
  };
  query("SELECT run_id, name FROM journal WHERE kind = 'step'", [&](sqlite3_stmt* st) {
    std::string name = text(st, 1);  // "step-<i>"
    if (name.rfind("step-", 0) == 0) j.steps.insert({text(st, 0), std::atoi(name.c_str() + 5)});
  });
  query("SELECT id FROM runs WHERE intent = 'w3' AND status = 'succeeded'",
        [&](sqlite3_stmt* st) { j.succeeded.insert(text(st, 0)); });
  sqlite3_close(db);
  return j;
}

json::object RunW3(const Options& o, int n, int c) {
  Fixture fx;
  StartFixture(o, fx);
  ServerProcess& server = *fx.server;
  std::string prefix = o.label.empty() ? "w3" : o.label;

  // Submit all (no wait).
  std::vector<std::string> run_ids(static_cast<size_t>(n));
  Errors submit_errs;
  std::vector<client::HttpClient> clients;
  for (int i = 0; i < c; ++i) clients.emplace_back("127.0.0.1", server.port(), 30'000);
  auto t0 = SteadyClock::now();
  ClosedLoop(n, c, [&](int t, int i) {
    std::string wf = prefix + "-" + Pad(i, 4);
    auto r = clients[t].Post("/v1/runs", SubmitBody("w3", wf));
    if (!r) return submit_errs.Add(wf + ": " + r.error().message);
    if (r->status / 100 != 2) {
      return submit_errs.Add(wf + ": HTTP " + std::to_string(r->status) + " " + Clip(r->body));
    }
    boost::system::error_code ec;
    json::value v = json::parse(r->body, ec);
    if (ec || !v.is_object() || !v.get_object().if_contains("id")) {
      return submit_errs.Add(wf + ": bad response " + Clip(r->body));
    }
    run_ids[static_cast<size_t>(i)] = std::string(v.get_object().at("id").as_string());
  });
  double submit_s = SecondsSince(t0);
  clients.clear();
  if (submit_errs.count() > 0) {
    Fail(o, "submit errors: " + json::serialize(submit_errs.first()), &fx);
  }

  // SIGKILL ~1 s (--crash-after-ms) after the first submit, or when the last submit returned
  // if that is later.
  double wait_ms = o.crash_after_ms - MsSince(t0);
  if (wait_ms > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(wait_ms));
  double kill_at_s = SecondsSince(t0);
  if (!server.Alive()) Fail(o, "the server died before the kill: " + server.exit_text(), &fx);
  server.Kill9();
  std::string log1 = server.current_log();
  Progress(o, "killed the server " + std::to_string(kill_at_s) + " s after the first submit");

  // What was durable at the kill (read-only; nothing else has the database open).
  JournalAtKill at_kill = ReadJournal(server.db_path());
  if (!at_kill.error.empty()) Fail(o, "reading the journal after the kill: " + at_kill.error, &fx);
  std::map<StepKey, int> execs_before;
  CountExecs(log1, execs_before);
  int64_t executed_before = 0;
  for (const auto& [k, v] : execs_before) executed_before += v;

  // Restart on the same data directory; done when every run has succeeded.
  std::set<std::string> ours(run_ids.begin(), run_ids.end());
  std::set<std::string> succeeded = at_kill.succeeded;
  std::set<std::string> failed;
  if (Status st = server.Start(); !st) Fail(o, "restart: " + st.error().message, &fx);
  auto t_restart = server.exec_time();
  double listening_s = std::chrono::duration<double>(server.listening_time() - t_restart).count();
  LogTail tail(server.current_log());
  double done_s = -1;
  while (SecondsSince(t_restart) < 120) {
    tail.Poll([&](const std::string& line) {
      if (line.find("\"run_finished\"") == std::string::npos) return;
      boost::system::error_code ec;
      json::value v = json::parse(line, ec);
      if (ec || !v.is_object()) return;
      const auto& obj = v.get_object();
      const auto* id = obj.if_contains("run_id");
      const auto* status = obj.if_contains("status");
      if (!id || !id->is_string() || !ours.count(std::string(id->get_string()))) return;
      if (status && status->is_string() && status->get_string() == "succeeded") {
        succeeded.insert(std::string(id->get_string()));
      } else {
        failed.insert(std::string(id->get_string()));
      }
    });
    if (static_cast<int>(succeeded.size()) >= n) {
      done_s = SecondsSince(t_restart);
      break;
    }
    if (static_cast<int>(succeeded.size() + failed.size()) >= n) break;
    if (!server.Alive()) Fail(o, "the restarted server died: " + server.exit_text(), &fx);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  Progress(o, "recovery: " + std::to_string(succeeded.size()) + " succeeded, " +
                  std::to_string(failed.size()) + " failed, after " +
                  std::to_string(SecondsSince(t_restart)) + " s");

  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // late stragglers
  int64_t listed = CountListed(server.port(), "w3", "succeeded");

  // Executions per (run, step) across both incarnations.
  std::map<StepKey, int> execs_after;
  CountExecs(server.current_log(), execs_after);
  std::map<StepKey, int> execs = execs_before;
  for (const auto& [k, v] : execs_after) execs[k] += v;
  int64_t raw_dups = 0, dup_keys = 0, missing = 0, beyond_in_flight = 0, journaled_rerun = 0,
          in_flight_at_kill = 0, runs_multi_in_flight = 0;
  std::map<std::string, int64_t> dups_per_run;
  std::map<std::string, int> in_flight_per_run;
  for (const auto& [k, v] : execs) {
    if (v > 1) {
      raw_dups += v - 1;
      dup_keys++;
      dups_per_run[k.run_id] += v - 1;
    }
  }
  for (const auto& [k, v] : execs_before) {
    if (!at_kill.steps.count(k)) {
      in_flight_at_kill++;
      in_flight_per_run[k.run_id]++;
    }
  }
  for (const auto& [run, cnt] : in_flight_per_run) runs_multi_in_flight += cnt > 1;
  for (const auto& [k, v] : execs_after) journaled_rerun += at_kill.steps.count(k) ? v : 0;
  for (const auto& [run, d] : dups_per_run) {
    // One in-flight step per run (ran, not yet committed at the kill) may legitimately run
    // again; anything more re-ran a step whose result was already durable.
    int64_t allowance = in_flight_per_run.count(run) ? 1 : 0;
    beyond_in_flight += std::max<int64_t>(0, d - allowance);
  }
  int max_steps_left = 0;  // 50 ms timers still ahead of the slowest run: a floor on recovery
  for (const auto& id : run_ids) {
    int left = 10;
    for (int s = 0; s < 10; ++s) {
      missing += execs.count({id, s}) ? 0 : 1;
      left -= at_kill.steps.count({id, s}) ? 1 : 0;
    }
    max_steps_left = std::max(max_steps_left, left);
  }

  json::object out = Header(o, fx.load0, fx.fdatasync_us);
  out["n"] = n;
  out["c"] = c;
  out["crash_after_ms"] = o.crash_after_ms;
  out["submit_s"] = Round(submit_s, 3);
  out["kill_at_s"] = Round(kill_at_s, 3);
  out["steps_executed_before_kill"] = executed_before;
  out["steps_journaled_at_kill"] = static_cast<int64_t>(at_kill.steps.size());
  out["runs_succeeded_at_kill"] = static_cast<int64_t>(at_kill.succeeded.size());
  out["steps_in_flight_at_kill"] = in_flight_at_kill;
  out["max_steps_left_at_kill"] = max_steps_left;
  out["restart_to_listening_s"] = Round(listening_s, 3);
  out["restart_to_all_done_s"] = done_s < 0 ? json::value(nullptr) : json::value(Round(done_s, 3));
  out["completed"] = static_cast<int64_t>(succeeded.size());
  out["failed"] = static_cast<int64_t>(failed.size());
  out["listed_succeeded"] = listed;
  out["exec_lines"] = executed_before + [&] {
    int64_t s = 0;
    for (const auto& [k, v] : execs_after) s += v;
    return s;
  }();
  out["dup_step_keys"] = dup_keys;
  out["raw_duplicates"] = raw_dups;
  out["duplicates_beyond_in_flight"] = beyond_in_flight;
  out["journaled_steps_rerun"] = journaled_rerun;
  out["runs_with_several_in_flight_steps"] = runs_multi_in_flight;
  out["missing_step_keys"] = missing;
  bool ok =
      done_s >= 0 && listed == n && beyond_in_flight == 0 && journaled_rerun == 0 && missing == 0;
  out["ok"] = ok;
  if (!server.Alive()) Fail(o, "the server died: " + server.exit_text(), &fx);
  server.Terminate();
  return out;
}

// --- W4: many parked runs ------------------------------------------------------------------

struct DbSize {
  int64_t file_bytes = 0;      // keel.db + keel.db-wal on disk
  int64_t logical_bytes = -1;  // (page_count - freelist_count) * page_size: what a checkpoint
                               // (and VACUUM) would leave, read without writing anything
};

DbSize MeasureDb(const std::string& db_path) {
  DbSize d;
  d.file_bytes = FileBytes(db_path) + FileBytes(db_path + "-wal");
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    int64_t vals[3] = {-1, -1, -1};
    const char* sql[3] = {"PRAGMA page_count", "PRAGMA freelist_count", "PRAGMA page_size"};
    for (int i = 0; i < 3; ++i) {
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(db, sql[i], -1, &st, nullptr) == SQLITE_OK &&
          sqlite3_step(st) == SQLITE_ROW) {
        vals[i] = sqlite3_column_int64(st, 0);
      }
      sqlite3_finalize(st);
    }
    if (vals[0] >= 0 && vals[1] >= 0 && vals[2] > 0)
      d.logical_bytes = (vals[0] - vals[1]) * vals[2];
  }
  sqlite3_close(db);
  return d;
}

json::object RunW4(const Options& o, int n, int c) {
  Fixture fx;
  StartFixture(o, fx);
  ServerProcess& server = *fx.server;
  const int kSettleS = 5;
  std::string prefix = o.label.empty() ? "w4" : o.label;
  std::string waiting_series = "keel_runs{intent=\"w4\",status=\"waiting\"}";

  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  double rss_before_mb = static_cast<double>(StatusKb(server.pid(), "VmRSS")) / 1024.0;
  DbSize db0 = MeasureDb(server.db_path());

  std::vector<std::string> run_ids(static_cast<size_t>(n));
  std::vector<client::HttpClient> clients;
  for (int i = 0; i < c; ++i) clients.emplace_back("127.0.0.1", server.port(), 30'000);
  Errors start_errs;
  std::vector<std::vector<double>> start_lat(static_cast<size_t>(c));
  ProcMonitor start_mon(server.pid(), 50);
  start_mon.Start();
  auto t0 = SteadyClock::now();
  ClosedLoop(n, c, [&](int t, int i) {
    std::string wf = prefix + "-" + Pad(i, 5);
    auto ts = SteadyClock::now();
    auto r = clients[t].Post("/v1/runs", SubmitBody("w4", wf));
    start_lat[static_cast<size_t>(t)].push_back(MsSince(ts));
    if (!r) return start_errs.Add(wf + ": " + r.error().message);
    if (r->status / 100 != 2) {
      return start_errs.Add(wf + ": HTTP " + std::to_string(r->status) + " " + Clip(r->body));
    }
    boost::system::error_code ec;
    json::value v = json::parse(r->body, ec);
    if (ec || !v.is_object() || !v.get_object().if_contains("id")) {
      return start_errs.Add(wf + ": bad response " + Clip(r->body));
    }
    run_ids[static_cast<size_t>(i)] = std::string(v.get_object().at("id").as_string());
  });
  double start_calls_s = SecondsSince(t0);
  Progress(o, "started " + std::to_string(n) + " runs in " + std::to_string(start_calls_s) +
                  " s (" + std::to_string(start_errs.count()) + " errors)");

  double waiting = 0;
  while (SecondsSince(t0) < 240) {
    auto m = ScrapeMetrics(server.port());
    if (m) waiting = MetricOr(*m, waiting_series);
    if (waiting >= n - start_errs.count()) break;
    if (!server.Alive()) Fail(o, "the server died: " + server.exit_text(), &fx);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  double all_waiting_s = SecondsSince(t0);
  ProcMonitor::Window start_w = start_mon.Stop();
  Progress(o, std::to_string(static_cast<int64_t>(waiting)) + " waiting after " +
                  std::to_string(all_waiting_s) + " s; settling " + std::to_string(kSettleS) +
                  " s");

  ProcMonitor idle_mon(server.pid(), 50);
  idle_mon.Start();
  std::this_thread::sleep_for(std::chrono::seconds(kSettleS));
  ProcMonitor::Window idle_w = idle_mon.Stop();
  double rss_waiting_mb = static_cast<double>(StatusKb(server.pid(), "VmRSS")) / 1024.0;
  DbSize db1 = MeasureDb(server.db_path());
  auto m_wait = ScrapeMetrics(server.port());
  double waiting_settled = m_wait ? MetricOr(*m_wait, waiting_series) : -1;

  // Release: signal every run; done when the log shows all of them succeeded.
  std::set<std::string> ours(run_ids.begin(), run_ids.end());
  ours.erase("");
  std::atomic<bool> stop_tail{false};
  std::atomic<int64_t> done_count{0};
  std::atomic<int64_t> failed_count{0};
  std::atomic<double> done_s{-1};
  Errors rel_errs;
  std::vector<std::vector<double>> rel_lat(static_cast<size_t>(c));
  ProcMonitor rel_mon(server.pid(), 50);
  LogTail tail(server.current_log());
  tail.Poll([](const std::string&) {});  // skip what was logged before the release
  double busy0 = MachineBusyCpuSeconds(), client_cpu0 = SelfCpuSeconds();
  rel_mon.Start();
  auto t1 = SteadyClock::now();
  std::thread tailer([&] {
    std::set<std::string> seen;
    while (!stop_tail && SecondsSince(t1) < 240) {
      tail.Poll([&](const std::string& line) {
        if (line.find("\"run_finished\"") == std::string::npos) return;
        boost::system::error_code ec;
        json::value v = json::parse(line, ec);
        if (ec || !v.is_object()) return;
        const auto* id = v.get_object().if_contains("run_id");
        const auto* status = v.get_object().if_contains("status");
        if (!id || !id->is_string() || !ours.count(std::string(id->get_string()))) return;
        if (!seen.insert(std::string(id->get_string())).second) return;
        if (status && status->is_string() && status->get_string() == "succeeded") {
          done_count++;
        } else {
          failed_count++;
        }
      });
      if (done_count + failed_count >= static_cast<int64_t>(ours.size())) {
        if (done_count == static_cast<int64_t>(ours.size())) done_s = SecondsSince(t1);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  ClosedLoop(n, c, [&](int t, int i) {
    const std::string& id = run_ids[static_cast<size_t>(i)];
    if (id.empty()) return;
    auto ts = SteadyClock::now();
    auto r = clients[t].Post("/v1/runs/" + id + "/signals/go", "{\"v\":7}");
    rel_lat[static_cast<size_t>(t)].push_back(MsSince(ts));
    if (!r) return rel_errs.Add(id + ": " + r.error().message);
    if (r->status / 100 != 2) {
      rel_errs.Add(id + ": HTTP " + std::to_string(r->status) + " " + Clip(r->body));
    }
  });
  double release_calls_s = SecondsSince(t1);
  tailer.join();
  stop_tail = true;
  ProcMonitor::Window rel_w = rel_mon.Stop();
  double other_cpu =
      MachineBusyCpuSeconds() - busy0 - rel_w.cpu_s - (SelfCpuSeconds() - client_cpu0);
  Progress(o, std::to_string(done_count.load()) + " succeeded after release (" +
                  std::to_string(done_s.load()) + " s)");
  int64_t listed = CountListed(server.port(), "w4", "succeeded");
  DbSize db2 = MeasureDb(server.db_path());

  auto lat_all = [](const std::vector<std::vector<double>>& v) {
    std::vector<double> all;
    for (const auto& x : v) all.insert(all.end(), x.begin(), x.end());
    return all;
  };
  auto start_all = lat_all(start_lat), rel_all = lat_all(rel_lat);
  double delta_file = static_cast<double>(db1.file_bytes - db0.file_bytes);
  double delta_logical = static_cast<double>(db1.logical_bytes - db0.logical_bytes);
  json::object out = Header(o, fx.load0, fx.fdatasync_us);
  out["n"] = n;
  out["c"] = c;
  out["start_errors"] = start_errs.count();
  out["start_first_errors"] = start_errs.first();
  out["start_calls_s"] = Round(start_calls_s, 3);
  out["start_call_p50_ms"] = Round(Percentile(start_all, 50), 3);
  out["start_call_p99_ms"] = Round(Percentile(start_all, 99), 3);
  out["all_waiting_s"] = Round(all_waiting_s, 3);
  out["waiting_count"] = waiting_settled;
  out["start_window_cpu_s"] = Round(start_w.cpu_s, 2);
  out["start_window_peak_rss_mb"] = Round(start_w.peak_rss_mb, 1);
  out["rss_before_mb"] = Round(rss_before_mb, 1);
  out["rss_waiting_mb"] = Round(rss_waiting_mb, 1);
  out["idle_cpu_s"] = Round(idle_w.cpu_s, 3);
  out["db_file_bytes_before"] = db0.file_bytes;
  out["db_file_bytes_waiting"] = db1.file_bytes;
  out["db_logical_bytes_before"] = db0.logical_bytes;
  out["db_logical_bytes_waiting"] = db1.logical_bytes;
  out["db_bytes_per_waiting_run"] = Round(delta_file / n, 1);
  out["db_logical_bytes_per_waiting_run"] = Round(delta_logical / n, 1);
  out["release_errors"] = rel_errs.count();
  out["release_first_errors"] = rel_errs.first();
  out["release_calls_s"] = Round(release_calls_s, 3);
  out["release_call_p50_ms"] = Round(Percentile(rel_all, 50), 3);
  out["release_call_p99_ms"] = Round(Percentile(rel_all, 99), 3);
  out["release_to_all_done_s"] =
      done_s.load() < 0 ? json::value(nullptr) : json::value(Round(done_s.load(), 3));
  out["done_count"] = done_count.load();
  out["failed_count"] = failed_count.load();
  out["listed_succeeded"] = listed;
  out["release_window_cpu_s"] = Round(rel_w.cpu_s, 2);
  out["release_window_peak_rss_mb"] = Round(rel_w.peak_rss_mb, 1);
  out["release_window_other_cpu_s"] = Round(other_cpu, 2);
  out["db_file_bytes_after_release"] = db2.file_bytes;
  out["ok"] = start_errs.count() == 0 && rel_errs.count() == 0 && done_count == n && listed == n;
  if (!server.Alive()) Fail(o, "the server died: " + server.exit_text(), &fx);
  server.Terminate();
  return out;
}

// --- main ------------------------------------------------------------------------------------

std::string SelfDir() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : p.parent_path().string();
}

int Usage(const char* why) {
  std::fprintf(stderr,
               "keel_bench: %s\nusage: keel_bench w1|w2|w3|w4|g1|g2 [--n N] [--c C] [--warmup N] "
               "[--label L] [--keel BIN] [--sim BIN] [--workflows DIR] [--work-dir DIR] "
               "[--timeout-s S] [--keep] [--server-arg ARG]... [--perf FILE] "
               "[--crash-after-ms MS] [--calls K] [--sim-latency-ms MS] "
               "[--synchronous full|normal|off] [--agent-stream true|false]\n",
               why);
  return 2;
}

void OnSignal(int sig) {
  pid_t pid = g_server_pid.load();
  if (pid > 0) ::kill(pid, SIGKILL);
  KillSim();
  signal(sig, SIG_DFL);
  raise(sig);
}

int Main(int argc, char** argv) {
  if (argc < 2) return Usage("missing workload");
  if (std::string(argv[1]) == "summary") {
    if (argc != 3) return Usage("usage: keel_bench summary RESULTS_DIR");
    return Summary(argv[2]);
  }
  if (std::string(argv[1]) == "fsync-probe") {
    std::string dir = argc > 2 ? argv[2] : ".";
    std::printf("%.1f\n", FdatasyncUs(dir, 200));
    return 0;
  }
  Options o;
  o.workload = argv[1];
  static const std::set<std::string> kWorkloads{"w1", "w2", "w3", "w4", "g1", "g2"};
  if (!kWorkloads.count(o.workload)) return Usage("unknown workload");
  o.keel_bin = SelfDir() + "/keel";
  o.sim_bin = SelfDir() + "/keel-llm-sim";
#ifdef KEEL_BENCH_WORKFLOWS
  o.workflows_dir = KEEL_BENCH_WORKFLOWS;
#endif
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        Usage(("missing value for " + a).c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--n")
      o.n = std::atoi(next().c_str());
    else if (a == "--c")
      o.c = std::atoi(next().c_str());
    else if (a == "--warmup")
      o.warmup = std::atoi(next().c_str());
    else if (a == "--label")
      o.label = next();
    else if (a == "--keel")
      o.keel_bin = next();
    else if (a == "--workflows")
      o.workflows_dir = next();
    else if (a == "--work-dir")
      o.work_dir = next();
    else if (a == "--timeout-s")
      o.timeout_s = std::atof(next().c_str());
    else if (a == "--server-arg")
      o.server_args.push_back(next());
    else if (a == "--keep")
      o.keep = true;
    else if (a == "--perf")
      o.perf_out = next();
    else if (a == "--crash-after-ms")
      o.crash_after_ms = std::atof(next().c_str());
    else if (a == "--sim")
      o.sim_bin = next();
    else if (a == "--calls")
      o.calls = std::atoi(next().c_str());
    else if (a == "--sim-latency-ms")
      o.sim_latency_ms = std::atoi(next().c_str());
    else if (a == "--synchronous") {
      o.synchronous = next();
      if (o.synchronous != "full" && o.synchronous != "normal" && o.synchronous != "off") {
        return Usage("--synchronous takes full, normal or off");
      }
    } else if (a == "--agent-stream") {
      std::string v = next();
      if (v != "true" && v != "false") return Usage("--agent-stream takes true or false");
      o.agent_stream = v == "true";
    } else
      return Usage(("unknown option " + a).c_str());
  }
  if (o.workflows_dir.empty() || !fs::is_directory(o.workflows_dir)) {
    return Usage("--workflows DIR (bench/workflows) is required");
  }
  if (access(o.keel_bin.c_str(), X_OK) != 0) {
    return Usage(("no keel binary at " + o.keel_bin + " (--keel BIN)").c_str());
  }
  if ((o.n != -1 && o.n < 1) || (o.c != -1 && o.c < 1) || o.timeout_s <= 0) {
    return Usage("--n, --c and --timeout-s must be positive");
  }
  if (o.calls < 2) return Usage("--calls must be at least 2 (G1 times the gaps between calls)");
  if (o.sim_latency_ms < 0) return Usage("--sim-latency-ms must not be negative");
  bool needs_sim = o.workload == "g1" || o.workload == "g2";
  if (needs_sim && access(o.sim_bin.c_str(), X_OK) != 0) {
    return Usage(("no keel-llm-sim binary at " + o.sim_bin + " (--sim BIN)").c_str());
  }
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  signal(SIGPIPE, SIG_IGN);
  ArmWatchdog(o.workload, o.timeout_s);

  json::object out;
  if (o.workload == "w1") {
    out = RunLoad(o, o.n > 0 ? o.n : 2000, o.c > 0 ? o.c : 32, o.warmup >= 0 ? o.warmup : 64);
  } else if (o.workload == "w2") {
    out = RunLoad(o, o.n > 0 ? o.n : 200, o.c > 0 ? o.c : 1, o.warmup >= 0 ? o.warmup : 20);
  } else if (o.workload == "w3") {
    out = RunW3(o, o.n > 0 ? o.n : 500, o.c > 0 ? o.c : 32);
  } else if (o.workload == "g1") {
    out = RunG1(o);
  } else if (o.workload == "g2") {
    out = RunG2(o);
  } else {
    out = RunW4(o, o.n > 0 ? o.n : 10000, o.c > 0 ? o.c : 32);
  }
  std::printf("%s\n", ToJson(out).c_str());
  std::fflush(stdout);
  bool ok = true;
  if (auto* e = out.if_contains("errors"); e && e->is_int64() && e->get_int64() > 0) ok = false;
  if (auto* k = out.if_contains("ok"); k && k->is_bool() && !k->get_bool()) ok = false;
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace keel::bench

int main(int argc, char** argv) { return keel::bench::Main(argc, argv); }
