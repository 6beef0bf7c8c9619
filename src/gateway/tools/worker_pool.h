#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace keel::gateway {

// A few threads for the tool work that blocks (MCP calls) or computes (Lua tools), so neither
// runs on the caller's thread nor on the HTTP client's. Thread-safe.
class WorkerPool {
 public:
  explicit WorkerPool(int threads);
  ~WorkerPool();  // Stop()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Runs `fn` on a worker; once stopped, on the calling thread, so that work posted late
  // (a cancel, a timer) still completes.
  void Post(std::function<void()> fn);
  // Runs what is queued, then joins the workers. Must not be called from a worker.
  void Stop();

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace keel::gateway
