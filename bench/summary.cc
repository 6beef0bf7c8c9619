// `keel_bench summary DIR`: the table bench/run_all.sh prints. Reads DIR/w{1,2,3,4}.jsonl (lines
// from keel_bench and, when run, from the peers' harness for Restate), groups them by system
// (the label before "-wN-rM") and prints median [min..max] per metric; then DIR/g{1,2}.jsonl by
// concurrency; then each target of docs/PERFORMANCE.md with its verdict.

#include "bench/summary.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace json = boost::json;

namespace keel::bench {
namespace {

// Restate on this machine kind, from the peers' stored results (results/main/summary.txt):
// used only when Restate was not measured in the same run, and labelled so.
constexpr double kStoredRestateW1StepsPerS = 3363.5;

using Rows = std::map<std::string, std::vector<json::object>>;  // system -> rows

std::string SystemOf(const json::object& row) {
  std::string label;
  if (const auto* l = row.if_contains("label"); l && l->is_string()) label = l->get_string();
  auto dash = label.rfind("-w");
  if (dash != std::string::npos) return label.substr(0, dash);
  if (const auto* s = row.if_contains("system"); s && s->is_string())
    return std::string(s->get_string());
  return label.empty() ? "?" : label;
}

Rows Load(const std::string& path, int& failed) {
  Rows rows;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    if (ec || !v.is_object()) continue;
    if (v.get_object().if_contains("error")) {
      ++failed;
      continue;
    }
    rows[SystemOf(v.get_object())].push_back(v.get_object());
  }
  return rows;
}

std::optional<double> Get(const json::object& o, const std::string& path) {
  const json::value* v = nullptr;
  const json::object* cur = &o;
  size_t start = 0;
  for (;;) {
    size_t dot = path.find('.', start);
    std::string key =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    v = cur->if_contains(key);
    if (!v) return std::nullopt;
    if (dot == std::string::npos) break;
    if (!v->is_object()) return std::nullopt;
    cur = &v->get_object();
    start = dot + 1;
  }
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  if (v->is_double()) return v->get_double();
  return std::nullopt;
}

// A metric: the sum of one or more paths (Restate's CPU is server + SDK process), optionally
// divided by the row's "n" (bytes per run).
struct Metric {
  std::string name;
  std::vector<std::string> keel;
  std::vector<std::string> restate;
  bool per_n_restate = false;
};

std::optional<double> Value(const json::object& row, const std::vector<std::string>& paths,
                            bool per_n) {
  if (paths.empty()) return std::nullopt;
  double sum = 0;
  for (const auto& p : paths) {
    auto v = Get(row, p);
    if (!v) return std::nullopt;
    sum += *v;
  }
  if (per_n) {
    auto n = Get(row, "n");
    if (!n || *n <= 0) return std::nullopt;
    sum /= *n;
  }
  return sum;
}

struct Stat {
  double median = 0, min = 0, max = 0;
  size_t n = 0;
};

std::optional<Stat> Summarize(std::vector<double> v) {
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  Stat s;
  s.n = v.size();
  s.min = v.front();
  s.max = v.back();
  s.median = s.n % 2 ? v[s.n / 2] : (v[s.n / 2 - 1] + v[s.n / 2]) / 2;
  return s;
}

std::string Fmt(double x) {
  char buf[64];
  double a = std::fabs(x);
  if (x == std::floor(x) && a < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", x);
    return buf;
  }
  std::snprintf(buf, sizeof buf,
                a >= 1000 ? "%.0f"
                : a >= 10 ? "%.1f"
                : a >= 1  ? "%.2f"
                          : "%.3f",
                x);
  return buf;
}

std::string Cell(const std::optional<Stat>& s) {
  if (!s) return "-";
  if (s->n == 1) return Fmt(s->median);
  return Fmt(s->median) + " [" + Fmt(s->min) + ".." + Fmt(s->max) + "] n=" + std::to_string(s->n);
}

std::optional<Stat> StatOf(const Rows& rows, const std::string& system, const Metric& m) {
  auto it = rows.find(system);
  if (it == rows.end()) return std::nullopt;
  bool restate = system.rfind("restate", 0) == 0;
  std::vector<double> v;
  for (const auto& row : it->second) {
    auto x = restate ? Value(row, m.restate, m.per_n_restate) : Value(row, m.keel, false);
    if (x) v.push_back(*x);
  }
  return Summarize(std::move(v));
}

void Verdict(const std::string& what, std::optional<double> value, const std::string& op,
             double target, const std::string& note = "") {
  std::string result = "n/a";
  if (value) {
    bool pass = op == ">=" ? *value >= target : *value <= target;
    result = pass ? "PASS" : "MISS";
  }
  std::printf("  %-44s %-12s %s %-10s %s%s\n", what.c_str(), value ? Fmt(*value).c_str() : "-",
              op.c_str(), Fmt(target).c_str(), result.c_str(), note.c_str());
}

// The G workloads: one column per case, i.e. concurrency ("c") and simulator latency
// ("sim_latency_ms"), median [min..max] over the repetitions of each.
struct ByC {
  std::string name;
  std::string path;
};

using Case = std::pair<int, int>;  // (simulator latency ms, concurrent runs): sorts by latency
using RowsByC = std::map<Case, std::vector<json::object>>;

std::string CaseName(const Case& k) {
  std::string s = "c=" + std::to_string(k.second);
  if (k.first > 0) s += ", sim " + std::to_string(k.first) + " ms";
  return s;
}

RowsByC LoadByC(const std::string& path, int& failed) {
  RowsByC out;
  for (auto& [system, rows] : Load(path, failed)) {
    for (auto& row : rows) {
      auto c = Get(row, "c");
      auto latency = Get(row, "sim_latency_ms");
      if (c) out[{latency ? static_cast<int>(*latency) : 0, static_cast<int>(*c)}].push_back(row);
    }
  }
  return out;
}

std::optional<Stat> StatByC(const RowsByC& rows, const Case& k, const std::string& path) {
  auto it = rows.find(k);
  if (it == rows.end()) return std::nullopt;
  std::vector<double> v;
  for (const auto& row : it->second) {
    if (auto x = Get(row, path)) v.push_back(*x);
  }
  return Summarize(std::move(v));
}

void PrintByC(const std::string& title, const RowsByC& rows, const std::vector<ByC>& metrics) {
  if (rows.empty()) return;
  std::printf("\n== %s ==\n%-46s", title.c_str(), "metric");
  for (const auto& [k, _] : rows) std::printf(" %-30s", CaseName(k).c_str());
  std::printf("\n");
  for (const auto& m : metrics) {
    std::printf("%-46s", m.name.c_str());
    for (const auto& [k, _] : rows) std::printf(" %-30s", Cell(StatByC(rows, k, m.path)).c_str());
    std::printf("\n");
  }
}

}  // namespace

int Summary(const std::string& dir) {
  struct Workload {
    std::string file, title;
    std::vector<Metric> metrics;
  };
  const std::vector<Workload> workloads{
      {"w1",
       "W1: workflows of 10 steps, 32 clients in a closed loop (default 2000)",
       {{"steps_per_s", {"steps_per_s"}, {"steps_per_s"}},
        {"wf_per_s", {"wf_per_s"}, {"wf_per_s"}},
        {"lat_p50_ms", {"lat_p50_ms"}, {"lat_p50_ms"}},
        {"lat_p99_ms", {"lat_p99_ms"}, {"lat_p99_ms"}},
        {"server_cpu_s", {"server_cpu_s"}, {"procs.restate.cpu_s", "procs.sdk.cpu_s"}},
        {"server_peak_rss_mb",
         {"server_peak_rss_mb"},
         {"procs.restate.peak_rss_mb", "procs.sdk.peak_rss_mb"}},
        {"srv_commit_batch_mean", {"srv_commit_batch_mean"}, {}},
        {"errors", {"errors"}, {"errors"}},
        {"n", {"n"}, {"n"}},
        {"fdatasync_us (probe before run)", {"fdatasync_us"}, {}},
        {"other_cpu_s (rest of the machine)", {"other_cpu_s"}, {}}}},
      {"w2",
       "W2: workflows of 10 steps, one at a time (default 200)",
       {{"step_p50_ms (e2e/10)", {"step_p50_ms"}, {"step_p50_ms"}},
        {"step_p99_ms (e2e/10)", {"step_p99_ms"}, {"step_p99_ms"}},
        {"lat_p50_ms", {"lat_p50_ms"}, {"lat_p50_ms"}},
        {"lat_p99_ms", {"lat_p99_ms"}, {"lat_p99_ms"}},
        {"srv_step_p50_ms (keel_step_seconds)", {"srv_step_p50_ms"}, {}},
        {"srv_step_p99_ms (keel_step_seconds)", {"srv_step_p99_ms"}, {}},
        {"server_cpu_s", {"server_cpu_s"}, {"procs.restate.cpu_s", "procs.sdk.cpu_s"}},
        {"errors", {"errors"}, {"errors"}},
        {"n", {"n"}, {"n"}},
        {"fdatasync_us (probe before run)", {"fdatasync_us"}, {}},
        {"other_cpu_s (rest of the machine)", {"other_cpu_s"}, {}}}},
      {"w3",
       "W3: workflows of 10 x (50 ms timer + step), SIGKILL at ~1 s, restart (default 500)",
       {{"crash_after_ms", {"crash_after_ms"}, {}},
        {"restart_to_all_done_s", {"restart_to_all_done_s"}, {"recovery_all_done_s"}},
        {"restart_to_listening_s", {"restart_to_listening_s"}, {"restart_cmd_s"}},
        {"runs_succeeded_at_kill", {"runs_succeeded_at_kill"}, {}},
        {"max_steps_left_at_kill (x 50 ms timer)", {"max_steps_left_at_kill"}, {}},
        {"steps_executed_before_kill",
         {"steps_executed_before_kill"},
         {"steps_executed_before_kill"}},
        {"raw_duplicates", {"raw_duplicates"}, {"extra_executions"}},
        {"duplicates_beyond_in_flight", {"duplicates_beyond_in_flight"}, {}},
        {"completed", {"completed"}, {"completed"}},
        {"missing_step_keys", {"missing_step_keys"}, {"missing_step_keys"}},
        {"n", {"n"}, {"n"}},
        {"fdatasync_us (probe before run)", {"fdatasync_us"}, {}}}},
      {"w4",
       "W4: runs parked on a signal, then released (default 10,000)",
       {{"rss_waiting_mb",
         {"rss_waiting_mb"},
         {"mem_waiting_mb.restate.rss", "mem_waiting_mb.sdk.rss"}},
        {"db_bytes_per_waiting_run", {"db_bytes_per_waiting_run"}, {"disk_delta_bytes"}, true},
        {"db_bytes_in_use_per_waiting_run (no WAL)", {"db_logical_bytes_per_waiting_run"}, {}},
        {"start_calls_s", {"start_calls_s"}, {"start_calls_s"}},
        {"all_waiting_s", {"all_waiting_s"}, {"all_waiting_s"}},
        {"idle_cpu_s (5 s settle)",
         {"idle_cpu_s"},
         {"idle_window.restate.cpu_s", "idle_window.sdk.cpu_s"}},
        {"release_to_all_done_s", {"release_to_all_done_s"}, {"release_to_all_done_s"}},
        {"done_count", {"done_count"}, {"done_count"}},
        {"n", {"n"}, {"n"}},
        {"release_window_other_cpu_s", {"release_window_other_cpu_s"}, {}},
        {"fdatasync_us (probe before run)", {"fdatasync_us"}, {}}}},
  };

  std::map<std::string, Rows> all;
  int failed = 0;
  for (const auto& w : workloads) all[w.file] = Load(dir + "/" + w.file + ".jsonl", failed);
  RowsByC g1 = LoadByC(dir + "/g1.jsonl", failed);
  RowsByC g2 = LoadByC(dir + "/g2.jsonl", failed);

  std::printf("Results in %s (median [min..max] over repetitions)\n", dir.c_str());
  for (const auto& w : workloads) {
    const Rows& rows = all[w.file];
    if (rows.empty()) continue;
    std::vector<std::string> systems;
    for (const auto& [s, _] : rows) systems.push_back(s);
    std::sort(systems.begin(), systems.end(), [](const std::string& a, const std::string& b) {
      return (a != "keel") < (b != "keel") || ((a != "keel") == (b != "keel") && a < b);
    });
    std::printf("\n== %s ==\n%-38s", w.title.c_str(), "metric");
    for (const auto& s : systems) std::printf(" %-34s", s.c_str());
    std::printf("\n");
    for (const auto& m : w.metrics) {
      std::printf("%-38s", m.name.c_str());
      for (const auto& s : systems) std::printf(" %-34s", Cell(StatOf(rows, s, m)).c_str());
      std::printf("\n");
    }
  }

  PrintByC(
      "G1: one model call, straight to the simulator vs through Keel (runs of 10 ctx.llm calls)",
      g1,
      {{"overhead p50 ms (Keel's time per call, proxy)", "overhead_p50_ms"},
       {"overhead p99 ms (Keel's time per call, proxy)", "overhead_p99_ms"},
       {"direct call p50 ms", "direct.p50_ms"},
       {"direct call p99 ms", "direct.p99_ms"},
       {"direct calls/s", "direct.calls_per_s"},
       {"through Keel: run/10 p50 ms", "keel.call_p50_ms"},
       {"through Keel: run/10 p99 ms", "keel.call_p99_ms"},
       {"through Keel: run/10 minus direct p50 ms", "call_minus_direct_p50_ms"},
       {"through Keel: run/10 minus direct p99 ms", "call_minus_direct_p99_ms"},
       {"through Keel: llm calls/s", "keel.calls_per_s"},
       {"through Keel: srv step p50 ms (llm entries)", "keel.srv_step_p50_ms"},
       {"through Keel: srv step p99 ms (llm entries)", "keel.srv_step_p99_ms"},
       {"through Keel: server CPU us per call", "keel.server_cpu_per_call_us"},
       {"through Keel: sim CPU s", "keel.sim_cpu_s"},
       {"via proxy: provider time p50 ms", "timed.provider_p50_ms"},
       {"via proxy: run/10 p50 ms", "timed.call_p50_ms"},
       {"plain steps: run/10 p50 ms", "steps.call_p50_ms"},
       {"plain steps: run/10 p99 ms", "steps.call_p99_ms"},
       {"plain steps: steps/s", "steps.calls_per_s"},
       {"plain steps: srv step p50 ms", "steps.srv_step_p50_ms"},
       {"plain steps: server CPU us per step", "steps.server_cpu_per_call_us"},
       {"errors", "errors"},
       {"fdatasync_us (probe before run)", "fdatasync_us"},
       {"other_cpu_s, through-Keel phase", "keel.other_cpu_s"},
       {"other_cpu_s, proxy phase", "timed.other_cpu_s"}});
  PrintByC("G2: agent runs (model -> tool -> model), simulator at zero latency", g2,
           {{"runs/s", "runs_per_s"},
            {"run latency p50 ms", "lat_p50_ms"},
            {"run latency p99 ms", "lat_p99_ms"},
            {"server CPU ms per run", "server_cpu_per_run_ms"},
            {"srv step p50 ms (all entries)", "srv_step_p50_ms"},
            {"srv step p99 ms (all entries)", "srv_step_p99_ms"},
            {"commits", "srv_commits"},
            {"commit batch mean", "srv_commit_batch_mean"},
            {"server peak RSS MB", "server_peak_rss_mb"},
            {"sim CPU s", "sim_cpu_s"},
            {"errors", "errors"},
            {"n", "n"},
            {"fdatasync_us (probe before run)", "fdatasync_us"},
            {"other_cpu_s (rest of the machine)", "other_cpu_s"}});

  auto keel = [&](const std::string& w, const Metric& m) -> std::optional<double> {
    auto s = StatOf(all[w], "keel", m);
    return s ? std::optional<double>(s->median) : std::nullopt;
  };
  std::printf("\n== targets (Keel median; W3 duplicates: worst run) ==\n");
  Metric steps{"", {"steps_per_s"}, {"steps_per_s"}};
  auto restate = StatOf(all["w1"], "restate", steps);
  double restate_steps = restate ? restate->median : kStoredRestateW1StepsPerS;
  Verdict("W1 steps/s >= 3x Restate", keel("w1", steps), ">=", 3 * restate_steps,
          restate ? "  (Restate measured in this run: " + Fmt(restate_steps) + ")"
                  : "  (Restate not run: stored peers figure " + Fmt(restate_steps) + ")");
  Verdict("W2 per-step p50 ms", keel("w2", {"", {"step_p50_ms"}, {}}), "<=", 0.25);
  for (const auto& [system, _] : all["w3"]) {
    if (system.rfind("keel", 0) != 0) continue;
    auto done = StatOf(all["w3"], system, {"", {"restart_to_all_done_s"}, {}});
    auto killed = StatOf(all["w3"], system, {"", {"crash_after_ms"}, {}});
    auto dups = StatOf(all["w3"], system, {"", {"duplicates_beyond_in_flight"}, {}});
    auto at_kill = StatOf(all["w3"], system, {"", {"runs_succeeded_at_kill"}, {}});
    std::string when = killed ? " (kill at " + Fmt(killed->median) + " ms)" : "";
    std::string note = at_kill ? "  (" + Fmt(at_kill->median) + " runs had already finished)" : "";
    Verdict("W3 restart-to-done s" + when,
            done ? std::optional<double>(done->median) : std::nullopt, "<=", 0.6, note);
    Verdict("W3 journaled steps repeated" + when,
            dups ? std::optional<double>(dups->max) : std::nullopt, "<=", 0);
  }
  Verdict("W4 RSS with 10k waiting, MB", keel("w4", {"", {"rss_waiting_mb"}, {}}), "<=", 64);
  Verdict("W4 DB bytes per waiting run (db+wal files)",
          keel("w4", {"", {"db_bytes_per_waiting_run"}, {}}), "<=", 512);
  Verdict("W4 DB bytes per waiting run (in use, no WAL)",
          keel("w4", {"", {"db_logical_bytes_per_waiting_run"}, {}}), "<=", 512);
  Verdict("W4 release-to-done s", keel("w4", {"", {"release_to_all_done_s"}, {}}), "<=", 3);
  bool g1_at_64 = false;
  for (const auto& [k, _] : g1) {
    if (k.second != 64) continue;
    g1_at_64 = true;
    auto p99 = StatByC(g1, k, "overhead_p99_ms");
    Verdict("G1 overhead p99 ms, " + CaseName(k), p99 ? std::optional(p99->median) : std::nullopt,
            "<=", 1);
  }
  if (!g1.empty() && !g1_at_64) {
    Verdict("G1 overhead p99 ms, c=64", std::nullopt, "<=", 1, "  (no c=64 run)");
  }
  if (failed > 0)
    std::printf("\n%d run(s) ended with an error line (see the .jsonl files)\n", failed);
  return 0;
}

}  // namespace keel::bench
