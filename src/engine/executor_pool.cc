#include "engine/executor_pool.h"

#include "base/hash.h"

namespace keel::engine {

ExecutorPool::ExecutorPool(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) workers_.push_back(std::make_unique<Worker>());
}

ExecutorPool::~ExecutorPool() { Stop(); }

void ExecutorPool::Start() {
  for (auto& w : workers_) w->thread = std::thread([&w = *w] { Loop(w); });
}

void ExecutorPool::Stop() {
  for (auto& w : workers_) {
    {
      std::lock_guard lock(w->mu);
      w->stop = true;
    }
    w->cv.notify_all();
  }
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
}

size_t ExecutorPool::ThreadFor(const std::string& run_id) const {
  return Fnv1a64(run_id) % workers_.size();
}

void ExecutorPool::Post(size_t thread, std::function<void()> task) {
  Worker& w = *workers_[thread];
  {
    std::lock_guard lock(w.mu);
    w.tasks.push_back(std::move(task));
  }
  w.cv.notify_one();
}

size_t ExecutorPool::QueueDepth() const {
  size_t n = 0;
  for (const auto& w : workers_) {
    std::lock_guard lock(w->mu);
    n += w->tasks.size();
  }
  return n;
}

void ExecutorPool::Loop(Worker& w) {
  std::unique_lock lock(w.mu);
  for (;;) {
    w.cv.wait(lock, [&] { return w.stop || !w.tasks.empty(); });
    if (w.tasks.empty()) return;  // stop requested and nothing left
    std::function<void()> task = std::move(w.tasks.front());
    w.tasks.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
}

}  // namespace keel::engine
