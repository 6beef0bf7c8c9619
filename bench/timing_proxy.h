#pragma once

// G1's stopwatch between Keel's gateway and the LLM simulator: a loopback HTTP/1.1 forwarder
// that notes when each model request reached it and when its response was handed back, so
// the time a run spends in Keel between two model calls can be told apart from the time the
// provider took (docs/PERFORMANCE.md, "G1").
//
// The arrival time is the kernel's receive timestamp of the request's last bytes
// (SO_TIMESTAMPING, software), not the time the proxy's thread got round to reading them, so
// the proxy's own scheduling delays count as provider time, never as Keel's. The hand-back
// time is taken just before write(2) of the response, so the write counts as Keel's time:
// the gap between a response and the next request errs on the long side. Both are
// CLOCK_REALTIME, the clock of kernel timestamps.
//
// Only what the benchmark sends: Content-Length bodies both ways (no chunked encoding, so no
// streamed model calls), keep-alive connections, one thread per connection. Thread-safe.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"

namespace keel::bench {

class TimingProxy {
 public:
  struct Call {
    // The marker the G1 workflow puts in its user message, "g1call:<wf>:<i>:"; "" if none.
    std::string key;
    int64_t in_ns = 0;   // the request had fully arrived (kernel receive time)
    int64_t out_ns = 0;  // the response was about to be written back to Keel
  };

  explicit TimingProxy(int upstream_port);
  ~TimingProxy();  // Stop()
  TimingProxy(const TimingProxy&) = delete;
  TimingProxy& operator=(const TimingProxy&) = delete;

  // Listens on 127.0.0.1, port 0.
  Status Start();
  // Closes every connection and joins every thread.
  void Stop();
  int port() const { return port_; }

  // The calls forwarded since the last Take(), in no particular order.
  std::vector<Call> Take();
  // The body of the last request forwarded: the request Keel sends, for G1's direct phase.
  std::string LastRequestBody() const;
  // Requests whose arrival time was read from the clock because the kernel gave none (then
  // the proxy's wake-up delay counts as Keel's time); 0 on Linux.
  int64_t fallback_timestamps() const { return fallback_timestamps_.load(); }
  // Exchanges that failed (a malformed message, the simulator unreachable): the connection
  // to Keel is closed, so Keel sees a transport error.
  int64_t errors() const { return errors_.load(); }

 private:
  void AcceptLoop();
  void Serve(int fd);

  int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::vector<std::thread> workers_;
  std::vector<int> client_fds_;
  std::vector<Call> calls_;
  std::string last_body_;
  std::atomic<int64_t> fallback_timestamps_{0};
  std::atomic<int64_t> errors_{0};
};

}  // namespace keel::bench
