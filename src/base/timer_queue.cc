#include "base/timer_queue.h"

#include <chrono>

namespace keel {

TimerQueue::TimerQueue(const Clock& clock) : clock_(clock) {}

TimerQueue::~TimerQueue() { Stop(); }

void TimerQueue::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void TimerQueue::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TimerQueue::At(int64_t wall_ms, std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    heap_.push(Timer{wall_ms, next_order_++, std::move(fn)});
  }
  cv_.notify_all();
}

size_t TimerQueue::size() const {
  std::lock_guard lock(mu_);
  return heap_.size();
}

void TimerQueue::Loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    if (heap_.empty()) {
      cv_.wait(lock);
      continue;
    }
    int64_t wait_ms = heap_.top().due - clock_.WallMs();
    if (wait_ms > 0) {
      // Bounded waits keep a fake or jumping clock honest without a notification.
      cv_.wait_for(lock, std::chrono::milliseconds(std::min<int64_t>(wait_ms, 100)));
      continue;
    }
    std::function<void()> fn = std::move(const_cast<Timer&>(heap_.top()).fn);
    heap_.pop();
    lock.unlock();
    fn();
    lock.lock();
  }
}

}  // namespace keel
