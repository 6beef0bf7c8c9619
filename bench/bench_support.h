#pragma once

// What every reference workload (keel_bench.cc) needs around the client: a `keel serve` child
// process, /proc sampling of that process, Prometheus text parsing, a reader of the server's
// JSON log lines, latency statistics. docs/PERFORMANCE.md describes the workloads.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"

namespace keel::bench {

using SteadyClock = std::chrono::steady_clock;

// Seconds (or milliseconds) elapsed since `t0`.
double SecondsSince(SteadyClock::time_point t0);
double MsSince(SteadyClock::time_point t0);

// Nearest-rank percentile (p in 0..100) of unsorted samples, as the peers' harness computes it;
// 0 for no samples.
double Percentile(std::vector<double> samples, double p);

// A `keel serve` child on 127.0.0.1 port 0. Its stderr goes to <data_dir>/server-<n>.log, one
// file per start. The process is killed (SIGKILL) when this object dies. Not thread-safe; the
// pid is also published to a global so the watchdog can kill the server before exiting.
class ServerProcess {
 public:
  struct Options {
    std::string binary;         // build/release/bin/keel
    std::string data_dir;       // must exist
    std::string workflows_dir;  // bench/workflows
    std::vector<std::string> extra_args;
  };
  explicit ServerProcess(Options options);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // fork+exec, then wait (up to timeout_ms) for the port file. exec_time() is taken just
  // before fork, listening_time() when the port file was seen.
  Status Start(int timeout_ms = 30'000);
  void Kill9();  // SIGKILL and reap
  // SIGTERM, wait up to timeout_ms, then SIGKILL. Returns true on a clean exit (status 0).
  bool Terminate(int timeout_ms = 15'000);
  // False once the process has exited (reaps it); the exit is then described by exit_text().
  bool Alive();

  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  const std::string& data_dir() const { return options_.data_dir; }
  std::string db_path() const { return options_.data_dir + "/keel.db"; }
  std::string log_path(int start) const;
  std::string current_log() const { return log_path(starts_); }
  int starts() const { return starts_; }
  SteadyClock::time_point exec_time() const { return exec_time_; }
  SteadyClock::time_point listening_time() const { return listening_time_; }
  const std::string& exit_text() const { return exit_text_; }

 private:
  Options options_;
  pid_t pid_ = -1;
  int port_ = 0;
  int starts_ = 0;
  SteadyClock::time_point exec_time_{};
  SteadyClock::time_point listening_time_{};
  std::string exit_text_;
};

// The pid of the server currently running (or -1), for the watchdog and signal handlers.
extern std::atomic<pid_t> g_server_pid;

// A `keel-llm-sim` child on 127.0.0.1 port 0 (G1, G2), with the flags in `extra_args`
// (--scenario FILE, --latency D). Its stderr goes to <dir>/sim.log. Killed (SIGKILL) when this
// object dies; its pid is published for the watchdog as the server's is.
class SimChild {
 public:
  SimChild(std::string binary, std::string dir, std::vector<std::string> extra_args = {});
  ~SimChild();
  SimChild(const SimChild&) = delete;
  SimChild& operator=(const SimChild&) = delete;

  // fork+exec, then wait (up to timeout_ms) for the port file.
  Status Start(int timeout_ms = 30'000);
  void Kill9();
  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  std::string log_path() const { return dir_ + "/sim.log"; }

 private:
  std::string binary_;
  std::string dir_;
  std::vector<std::string> extra_args_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// SIGKILLs the simulator child, if one runs (for the watchdog, signal handlers and Fail).
void KillSim();

// Kills the server and exits with status 3 after printing an error JSON line, if the process
// is still running `seconds` from now. Every workload arms one so it always ends by itself.
void ArmWatchdog(const std::string& workload, double seconds);

// utime+stime of a process in seconds (/proc/PID/stat); -1 if unreadable.
double CpuSeconds(pid_t pid);
// A "Key:   123 kB" field of /proc/PID/status in KiB (VmRSS, VmHWM); 0 if unreadable.
int64_t StatusKb(pid_t pid, const char* key);
// CPU seconds all processes of the machine have spent busy so far (/proc/stat: everything
// but idle and iowait), to tell how much other work ran during a measurement.
double MachineBusyCpuSeconds();
// CPU seconds used by this process so far (user + system).
double SelfCpuSeconds();
// Size of a file in bytes, 0 if absent.
int64_t FileBytes(const std::string& path);

// Samples a process's VmRSS every interval_ms on its own thread between Start() and Stop(), and
// measures its CPU time over the same window. Start() also resets VmHWM (clear_refs 5), so the
// peak is max(samples, VmHWM) of that window.
class ProcMonitor {
 public:
  explicit ProcMonitor(pid_t pid, int interval_ms = 50);
  ~ProcMonitor();
  void Start();
  struct Window {
    double wall_s = 0;
    double cpu_s = 0;
    double peak_rss_mb = 0;
    double last_rss_mb = 0;
  };
  Window Stop();

 private:
  pid_t pid_;
  int interval_ms_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> peak_kb_{0};
  std::thread thread_;
  double cpu0_ = 0;
  SteadyClock::time_point t0_{};
};

// Prometheus text format: "name{labels}" (exactly as printed) -> value.
using MetricMap = std::map<std::string, double>;
MetricMap ParseMetrics(const std::string& text);
// Fetches GET /metrics over a fresh connection.
Result<MetricMap> ScrapeMetrics(int port);
double MetricOr(const MetricMap& m, const std::string& series, double fallback = 0);

// Quantile (0..1) of the observations a histogram (without labels of its own) received between
// two scrapes, interpolated linearly inside the bucket as Prometheus' histogram_quantile does.
// -1 when nothing was observed.
double HistogramQuantile(const MetricMap& before, const MetricMap& after, const std::string& name,
                         double q);
// Mean of the observations between two scrapes (sum/count deltas); -1 when none.
double HistogramMean(const MetricMap& before, const MetricMap& after, const std::string& name);
double HistogramCount(const MetricMap& before, const MetricMap& after, const std::string& name);

// Reads a growing log file of JSON lines incrementally: each Poll() hands every complete new
// line to `on_line` (parsed lazily by the caller). A partial last line waits for the next Poll.
class LogTail {
 public:
  explicit LogTail(std::string path) : path_(std::move(path)) {}
  // Returns the number of new lines.
  int64_t Poll(const std::function<void(const std::string& line)>& on_line);

 private:
  std::string path_;
  int64_t offset_ = 0;
  std::string partial_;
};

// Runs `body(i)` for i in [0, n) on `threads` threads, each taking the next index from a shared
// counter (a closed loop: a thread issues its next request when the previous one returned).
// body receives the thread number so it can use that thread's own client.
void ClosedLoop(int n, int threads, const std::function<void(int thread, int i)>& body);

// mkdtemp under `base` ("" = $TMPDIR or /tmp).
std::string MakeTempDir(const std::string& base, const std::string& prefix);

}  // namespace keel::bench
