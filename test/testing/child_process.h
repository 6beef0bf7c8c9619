#pragma once

// A real binary (keel serve, keel-llm-sim) run as a child of a test: started with its stderr
// in a log file, waited for until it writes the port it listens on, stopped and reaped.

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"

namespace keel::testing {

// The whole of a file, or "" when it cannot be read (a log not written yet).
std::string ReadFileOrEmpty(const std::string& path);

// Not thread-safe.
class ChildProcess {
 public:
  // `name` is how errors call the child ("keel serve").
  explicit ChildProcess(std::string name) : name_(std::move(name)) {}
  ~ChildProcess();  // Kill()
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Forks and execs `argv` (argv[0] is the binary's path) with stderr to `log_file` (created
  // or truncated) and stdout to /dev/null, then waits up to `timeout_ms` until the child
  // writes the port it listens on into `port_file` (removed first, so an old one is never
  // read). The errors quote the child's log: it exited first, or it took too long (then it is
  // killed).
  Result<int> StartListening(std::vector<std::string> argv, const std::string& log_file,
                             const std::string& port_file, int timeout_ms = 30'000);
  // SIGKILL, then reap; nothing when no child runs.
  void Kill();
  // Sends `signal` to a running child.
  Status Signal(int signal);
  // Waits up to `timeout_ms` for the child to exit by itself; its exit code, or -signal.
  Result<int> WaitExit(int timeout_ms);

  bool running() const { return pid_ > 0; }

 private:
  // Reaps the child if it has exited: its exit code or -signal.
  std::optional<int> Reap();

  std::string name_;
  pid_t pid_ = -1;
};

}  // namespace keel::testing
