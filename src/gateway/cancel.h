#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <vector>

namespace keel::gateway {

// Set once by whoever wants an operation stopped (a run's cancel, its deadline); read by
// whoever performs it. Listeners registered with OnCancel run once, on the cancelling thread,
// so an HTTP transfer can be woken and aborted at once rather than at its next poll.
// Thread-safe.
class CancelToken {
 public:
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

  void Cancel() {
    std::vector<std::function<void()>> fns;
    {
      std::lock_guard lock(mu_);
      if (cancelled_.exchange(true)) return;
      fns.swap(listeners_);
    }
    for (auto& f : fns) f();
  }

  // Runs `fn` when cancelled (at once if already cancelled). `fn` must be quick.
  void OnCancel(std::function<void()> fn) {
    {
      std::lock_guard lock(mu_);
      if (!cancelled_.load()) {
        listeners_.push_back(std::move(fn));
        return;
      }
    }
    fn();
  }

 private:
  std::mutex mu_;
  std::atomic<bool> cancelled_{false};
  std::vector<std::function<void()>> listeners_;
};

}  // namespace keel::gateway
