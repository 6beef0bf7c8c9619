#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace keel {

// Clock is the only way our code reads time (STYLE.md rule 3). Wall time is what is journaled
// and shown to people; monotonic time is what timeouts and leases are measured with, so a wall
// clock jump neither fires nor stalls them.
// "2024-05-01T12:00:03.250Z" (UTC, milliseconds): how times are shown to people, in logs and
// error messages.
std::string FormatUtcMs(int64_t unix_ms);

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch.
  virtual int64_t WallMs() const = 0;
  // Monotonic microseconds from an arbitrary origin.
  virtual int64_t MonoUs() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t WallMs() const override;
  int64_t MonoUs() const override;
  static SystemClock& Instance();
};

// A clock tests move by hand. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t wall_ms = 1'700'000'000'000) : wall_ms_(wall_ms) {}
  int64_t WallMs() const override { return wall_ms_.load(); }
  int64_t MonoUs() const override { return mono_us_.load(); }
  void AdvanceMs(int64_t ms) {
    wall_ms_ += ms;
    mono_us_ += ms * 1000;
  }
  // A wall-clock jump that monotonic time does not see.
  void JumpWallMs(int64_t ms) { wall_ms_ += ms; }

 private:
  std::atomic<int64_t> wall_ms_;
  std::atomic<int64_t> mono_us_{0};
};

}  // namespace keel
