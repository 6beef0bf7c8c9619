#include "base/failpoint.h"

#include <unistd.h>
#include <csignal>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

namespace keel {

namespace {

struct Points {
  std::mutex mu;
  std::map<std::string, long, std::less<>> remaining;  // hits left before the kill
};

// Parsed once; null when the variable is unset (the common case).
Points* Load() {
  const char* env = std::getenv("KEEL_FAILPOINTS");
  if (!env || !*env) return nullptr;
  auto* p = new Points;  // lives as long as the process
  std::string all = env;
  size_t start = 0;
  while (start <= all.size()) {
    size_t end = all.find(',', start);
    if (end == std::string::npos) end = all.size();
    std::string item = all.substr(start, end - start);
    if (!item.empty()) {
      long n = 1;
      if (size_t at = item.find('@'); at != std::string::npos) {
        n = std::max(1L, std::strtol(item.c_str() + at + 1, nullptr, 10));
        item.resize(at);
      }
      p->remaining[item] = n;
    }
    start = end + 1;
  }
  return p;
}

}  // namespace

void Failpoint(std::string_view name) {
  static Points* points = Load();
  if (!points) return;
  std::lock_guard lock(points->mu);
  auto it = points->remaining.find(name);
  if (it == points->remaining.end()) return;
  if (--it->second > 0) return;
  ::kill(::getpid(), SIGKILL);
}

}  // namespace keel
