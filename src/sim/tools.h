#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <string>

namespace keel::sim {

// The built-in test tools behind POST /tools/{name}. Pure: the caller adds "call_id", does
// the waiting of `sleep` and the accounting.
struct ToolOutcome {
  int status = 200;
  boost::json::object body;  // the result, or {"error": {...}} when status != 200
  int64_t sleep_ms = 0;      // wait this long before answering (the `sleep` tool)
};

inline constexpr int64_t kMaxBigBytes = 64 << 20;
inline constexpr int64_t kMaxSleepMs = 600'000;

// echo, get_weather, add, big, sleep; any other name answers {"tool": name, "args": args}.
ToolOutcome RunTool(const std::string& name, const boost::json::object& args);

}  // namespace keel::sim
