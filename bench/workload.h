#pragma once

// What every workload of keel_bench shares: its options, the result line (JSON with the
// machine context), error collection, and the fixture that starts a `keel serve` on a fresh
// data directory. The W workloads are in keel_bench.cc, the gateway and agent workloads (G1,
// G2) in gateway_bench.cc; docs/PERFORMANCE.md describes them all.

#include <boost/json.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "client/http_client.h"

namespace keel::bench {

struct Options {
  std::string workload;
  std::string keel_bin;
  std::string sim_bin;  // g1/g2: keel-llm-sim, beside keel_bench by default
  std::string workflows_dir;
  std::string work_dir;
  std::string label;
  int n = -1;
  int c = -1;
  int warmup = -1;
  double timeout_s = 300;
  bool keep = false;
  std::vector<std::string> server_args;
  std::string perf_out;          // w1/w2: `perf record` the server over the measured window
  double crash_after_ms = 1000;  // w3: SIGKILL this long after the first submit
  int calls = 10;                // g1: model calls per run
  bool agent_stream = true;      // g2: the agent's `stream` (the spec's default: true)
  int sim_latency_ms = 0;        // g1/g2: the simulator's --latency (0: answers at once)
  std::string synchronous;       // g1/g2: [store] synchronous of the generated config; "": default
};

// The 1-minute load average: other work on the machine skews every number, so say how much.
double LoadAverage();

// Median microseconds of a 4 KiB pwrite + fdatasync in `dir` (the data directory's disk): the
// floor under every durable step, and the first thing a busy machine slows down.
double FdatasyncUs(const std::string& dir, int n = 50);

void Progress(const Options& o, const std::string& msg);

// The result line: JSON whose doubles print as 12.5, not 1.25E1 (people read these too).
std::string ToJson(const boost::json::object& o);
double Round(double v, int digits);

// Collects request errors from many threads: a count and the first few messages.
class Errors {
 public:
  void Add(std::string msg);
  int64_t count() const;
  boost::json::array first() const;

 private:
  mutable std::mutex mu_;
  int64_t count_ = 0;
  std::vector<std::string> first_;
};

std::string Clip(const std::string& s, size_t n = 200);
std::string Pad(int i, int width);
// {"intent": intent, "payload": {"wf": wf}}
std::string SubmitBody(const std::string& intent, const std::string& wf);
// A JSON number as a double; -1 when absent or not a number.
double Num(const boost::json::value* v);

// A fresh data directory (with its fsync probe) and the server started on it. The directory is
// removed at the end unless --keep.
struct Fixture {
  std::string dir;
  std::unique_ptr<ServerProcess> server;
  const Options* o = nullptr;
  double load0 = -1;
  double fdatasync_us = -1;

  ~Fixture();
};

// Prints an error line for the workload and exits with status 1, killing the server (and the
// simulator, when one runs).
[[noreturn]] void Fail(const Options& o, const std::string& what, Fixture* fx = nullptr);

// Creates the data directory and probes fsync; exits through Fail on error.
void PrepareFixture(const Options& o, Fixture& fx);
// Starts `keel serve` on fx.dir with `extra_args` (then o.server_args); exits through Fail.
void StartServer(const Options& o, Fixture& fx, const std::vector<std::string>& extra_args = {});
// Both of the above.
void StartFixture(const Options& o, Fixture& fx);

// The first fields of every result line: workload, label, server arguments, load average and
// the fsync probe.
boost::json::object Header(const Options& o, double load_at_start, double fdatasync_us);

// One POST /v1/runs?wait=30000, checked: the run succeeded and `check(result)` returned "".
// Returns the latency in ms; the run's id goes to *id when given.
using ResultCheck = std::function<std::string(const boost::json::object& result)>;
std::optional<double> SubmitRun(client::HttpClient& c, const std::string& body,
                                const std::string& what, const ResultCheck& check, Errors& errs,
                                std::string* id = nullptr);

// SubmitRun of the w1 workflow (10 steps), checking its result.
std::optional<double> SubmitAndWait(client::HttpClient& c, const std::string& wf, Errors& errs);

// Latency statistics of a set of samples (ms), as every workload reports them.
struct LatencyStats {
  double p50 = 0, p99 = 0, mean = 0, max = 0;
  int64_t n = 0;
};
LatencyStats Stats(const std::vector<double>& samples);
// Concatenates per-thread sample vectors.
std::vector<double> Flatten(const std::vector<std::vector<double>>& per_thread);

}  // namespace keel::bench
