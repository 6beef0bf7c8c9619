#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

#include "base/clock.h"

namespace keel {

// Calls functions at wall-clock times (durable timers are journaled as wall time). One thread,
// a min-heap; callbacks run on that thread and must only post work elsewhere.
//
// The wait is re-computed from the Clock after every wake-up, so a wall clock that jumps
// forward fires due timers early rather than never, and one that jumps back delays them;
// nothing is lost either way. Thread-safe.
class TimerQueue {
 public:
  explicit TimerQueue(const Clock& clock);
  ~TimerQueue();
  void Start();
  void Stop();
  void At(int64_t wall_ms, std::function<void()> fn);
  size_t size() const;

 private:
  struct Timer {
    int64_t due;
    uint64_t order;
    std::function<void()> fn;
    bool operator>(const Timer& o) const { return due != o.due ? due > o.due : order > o.order; }
  };
  void Loop();

  const Clock& clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> heap_;
  uint64_t next_order_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace keel
