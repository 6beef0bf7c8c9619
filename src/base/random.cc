#include "base/random.h"

#include <cstdio>

namespace keel {

Random::Random(uint64_t seed) : gen_(seed) {}

Random& Random::System() {
  static Random r{(static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}()};
  return r;
}

uint64_t Random::Next() {
  std::lock_guard lock(mu_);
  return gen_();
}

double Random::NextDouble() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

namespace {
std::string Format(uint64_t hi, uint64_t lo) {
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buf;
}
}  // namespace

std::string Random::UuidV7(int64_t wall_ms) {
  uint64_t a = Next(), b = Next();
  uint64_t hi = (static_cast<uint64_t>(wall_ms) << 16) | 0x7000 | (a & 0x0fff);
  uint64_t lo = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  return Format(hi, lo);
}

std::string Random::UuidV4() {
  uint64_t a = Next(), b = Next();
  uint64_t hi = (a & 0xffffffffffff0fffULL) | 0x4000;
  uint64_t lo = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  return Format(hi, lo);
}

}  // namespace keel
