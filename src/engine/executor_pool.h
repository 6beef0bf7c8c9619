#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace keel::engine {

// A fixed set of threads, each with its own task queue. Work for a run always goes to the
// same thread (by hash of its id), so a run's Lua state is only ever touched by one thread
// and needs no locks. Thread-safe.
class ExecutorPool {
 public:
  explicit ExecutorPool(int threads);
  ~ExecutorPool();
  void Start();
  // Runs queued tasks to completion, then joins the threads.
  void Stop();
  size_t ThreadFor(const std::string& run_id) const;
  void Post(size_t thread, std::function<void()> task);
  void PostFor(const std::string& run_id, std::function<void()> task) {
    Post(ThreadFor(run_id), std::move(task));
  }
  size_t size() const { return workers_.size(); }
  size_t QueueDepth() const;

 private:
  struct Worker {
    mutable std::mutex mu;
    std::condition_variable cv;
    std::deque<std::function<void()>> tasks;
    bool stop = false;
    std::thread thread;
  };
  static void Loop(Worker& w);
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace keel::engine
