#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "client/http_client.h"
#include "test/testing/child_process.h"

namespace keel::testing {

// A real `keel serve` child process on 127.0.0.1 port 0 with its own data directory, for
// integration tests. The binary is ${KEEL_BIN_DIR}/bin/keel (set by keel_test). stderr (JSON
// log lines) goes to <data_dir>/server-<object>-<n>.log, one file per start, so tests can read what
// every incarnation said. Not thread-safe.
class ServerProcess {
 public:
  struct Options {
    std::string data_dir;                 // empty: a fresh temporary directory
    std::string workflows_dir;            // default: ${KEEL_SOURCE_DIR}/examples
    std::vector<std::string> extra_args;  // e.g. {"--config", path}
  };
  explicit ServerProcess(Options options);
  ~ServerProcess();  // SIGKILLs a running server

  // Starts the server and waits (up to 30 s) until it listens. Fails with the server's
  // stderr when it exits instead.
  Status Start();
  // SIGKILL, then reap.
  void Kill();
  // SIGTERM, then wait up to `timeout_ms`; returns the exit code (or -signal).
  Result<int> Terminate(int timeout_ms = 30'000);
  // Waits for the process to exit by itself (for start-up failures).
  Result<int> WaitExit(int timeout_ms);

  bool running() const { return child_.running(); }
  int port() const { return port_; }
  const std::string& data_dir() const { return data_dir_; }
  std::string db_path() const { return data_dir_ + "/keel.db"; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  client::HttpClient Client(int64_t timeout_ms = 30'000) const;
  // Concatenated stderr of every start so far.
  std::string Logs() const;
  // Path of the log file of the current (or last) start, and of start `n` (1-based).
  std::string current_log() const { return log_of_start(starts_); }
  std::string log_of_start(int n) const;
  int starts() const { return starts_; }

  static std::string KeelBinary();
  static std::string SourceDir();
  static std::string MakeTempDir(const std::string& prefix = "keel-test-");

 private:
  Options options_;
  std::string data_dir_;
  bool own_dir_ = false;
  ChildProcess child_{"keel serve"};
  int port_ = 0;
  int starts_ = 0;
  int instance_ = 0;  // several objects may share one data dir; files are named per object
};

// Runs a command line (through /bin/sh), returning exit code and stdout (stderr appended
// when `merge_stderr`).
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
CommandResult RunCommand(const std::string& command, bool merge_stderr = false);

// Polls `pred` every 20 ms until it returns true or `timeout_ms` passes.
bool WaitFor(const std::function<bool()>& pred, int timeout_ms);

}  // namespace keel::testing
