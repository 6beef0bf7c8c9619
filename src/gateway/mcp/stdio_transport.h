#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gateway/mcp/transport.h"

namespace keel::gateway::mcp {

// An MCP server as a child process: newline-delimited JSON-RPC on its stdin/stdout. The child
// runs in its own process group with only fds 0-2. One I/O thread reads stdout (dispatching
// responses to the waiting callers), drains stderr into debug logs, and answers the server's
// own requests. When stdout closes the child is reaped and pending requests fail with its exit
// status; alive() turns false.
class StdioTransport final : public Transport {
 public:
  // Spawns `argv` (searched in PATH). `server` names it in logs.
  static Result<std::unique_ptr<StdioTransport>> Start(std::string server,
                                                       const std::vector<std::string>& argv);
  // Closes the child's stdin, SIGTERMs its process group, SIGKILLs it after 2 s, reaps it.
  ~StdioTransport() override;

  Result<boost::json::object> Request(std::string_view method, const boost::json::value& params,
                                      int64_t timeout_ms,
                                      const std::shared_ptr<CancelToken>& cancel) override;
  Status Notify(std::string_view method, const boost::json::value& params,
                int64_t timeout_ms) override;
  bool alive() const override;

 private:
  using Clock = std::chrono::steady_clock;
  struct Waiter;

  StdioTransport(std::string server, pid_t pid, int in_fd, int out_fd, int err_fd, int wake_r,
                 int wake_w);
  void IoLoop();
  void HandleLine(std::string_view line);
  void HandleMessage(const boost::json::value& v);
  void LogStderr(std::string_view line);
  // Waits for the child to exit (SIGKILLing its group if it lingers), reaps it and fails
  // what is pending. Runs on the I/O thread once stdout closed or the destructor asked.
  void Reap();
  // Writes `line` + '\n' whole, or fails once `deadline` passes (also while waiting for
  // another writer).
  Status WriteLine(std::string line, Clock::time_point deadline);
  Status WriteWhole(const std::string& line, Clock::time_point deadline);  // holds the writer
  // One writer at a time, waiting until `deadline` at most. (Not std::timed_mutex: TSan does
  // not see its timed lock and reports false errors.)
  bool AcquireWriter(Clock::time_point deadline);
  void ReleaseWriter();
  void Signal(int sig);

  const std::string server_;
  const pid_t pid_;
  int in_fd_, out_fd_, err_fd_, wake_r_, wake_w_;

  std::mutex write_mu_;
  std::condition_variable write_cv_;
  bool writing_ = false;   // guarded by write_mu_; in_fd_ belongs to whoever set it
  mutable std::mutex mu_;  // guards what follows
  std::condition_variable exited_cv_;
  std::map<int64_t, std::shared_ptr<Waiter>> pending_;
  int64_t next_id_ = 1;
  bool dead_ = false;  // reaped: nothing more will be answered
  std::string exit_text_;

  std::atomic<bool> stopping_{false};  // the destructor runs
  std::thread io_;
};

}  // namespace keel::gateway::mcp
