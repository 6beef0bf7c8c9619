#include "observability/log.h"

#include "base/clock.h"

#include <unistd.h>

#include <atomic>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace keel::obs {

namespace {
std::atomic<Level> g_min_level{Level::kInfo};

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

std::string Timestamp() {
  // Log timestamps are for people reading the line; they are the one place outside base/
  // that reads the wall clock directly, because logging must work before any Clock exists.
  auto now = std::chrono::system_clock::now();
  return FormatUtcMs(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
}
}  // namespace

void SetMinLevel(Level level) { g_min_level = level; }

void Log(Level level, std::string_view event, boost::json::object fields) {
  if (level < g_min_level.load(std::memory_order_relaxed)) return;
  boost::json::object line;
  line["ts"] = Timestamp();
  line["level"] = LevelName(level);
  line["event"] = event;
  for (auto& kv : fields) line[kv.key()] = std::move(kv.value());
  std::string text = boost::json::serialize(line);
  text.push_back('\n');
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) return;  // stderr closed: logging must never take the server down
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace keel::obs
