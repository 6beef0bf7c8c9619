#pragma once

#include <boost/json/object.hpp>
#include <string_view>

namespace keel::obs {

enum class Level { kDebug, kInfo, kWarn, kError };

// Writes one JSON log line: {"ts", "level", "event", ...fields}. Each line goes out in a single
// write(2) to stderr, unbuffered, so lines from many threads never interleave and a process
// killed with SIGKILL loses none it had written. Thread-safe.
void Log(Level level, std::string_view event, boost::json::object fields = {});
void SetMinLevel(Level level);

inline void Info(std::string_view event, boost::json::object fields = {}) {
  Log(Level::kInfo, event, std::move(fields));
}
inline void Warn(std::string_view event, boost::json::object fields = {}) {
  Log(Level::kWarn, event, std::move(fields));
}
inline void Error(std::string_view event, boost::json::object fields = {}) {
  Log(Level::kError, event, std::move(fields));
}

}  // namespace keel::obs
