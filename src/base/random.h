#pragma once

#include <cstdint>
#include <mutex>
#include <random>
#include <string>

namespace keel {

// Source of randomness, passed in like Clock so tests can seed it. Thread-safe.
class Random {
 public:
  explicit Random(uint64_t seed);
  static Random& System();  // seeded from std::random_device

  uint64_t Next();
  double NextDouble();  // [0, 1)
  // A UUIDv7 (RFC 9562): 48-bit Unix ms timestamp then random bits, so ids sort by creation.
  std::string UuidV7(int64_t wall_ms);
  // A UUIDv4 for values that carry no time.
  std::string UuidV4();

 private:
  std::mutex mu_;
  std::mt19937_64 gen_;
};

}  // namespace keel
