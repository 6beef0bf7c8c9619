#include "sim/tools.h"

#include "base/hash.h"

namespace keel::sim {

namespace json = boost::json;

namespace {

ToolOutcome BadArgs(const std::string& message) {
  ToolOutcome o;
  o.status = 400;
  o.body = json::object{
      {"error", json::object{{"type", "invalid_request_error"}, {"message", message}}}};
  return o;
}

ToolOutcome Weather(const json::object& args) {
  const json::value* city = args.if_contains("city");
  if (!city) city = args.if_contains("location");
  if (!city || !city->is_string() || city->as_string().empty()) {
    return BadArgs("get_weather: args.city must be a non-empty string");
  }
  static constexpr const char* kConditions[] = {"sunny", "cloudy", "rain", "snow", "fog", "windy"};
  uint64_t h = Fnv1a64(std::string_view(city->as_string()));
  ToolOutcome o;
  o.body = json::object{{"city", city->as_string()},
                        {"temp_c", static_cast<int64_t>((h >> 8) % 41) - 10},
                        {"conditions", kConditions[h % 6]}};
  return o;
}

ToolOutcome Add(const json::object& args) {
  const json::value* a = args.if_contains("a");
  const json::value* b = args.if_contains("b");
  if (!a || !b || !a->is_number() || !b->is_number()) {
    return BadArgs("add: args.a and args.b must be numbers");
  }
  ToolOutcome o;
  if (a->is_int64() && b->is_int64()) {
    o.body = json::object{{"sum", a->as_int64() + b->as_int64()}};
  } else {
    o.body = json::object{{"sum", a->to_number<double>() + b->to_number<double>()}};
  }
  return o;
}

ToolOutcome Big(const json::object& args) {
  const json::value* bytes = args.if_contains("bytes");
  if (!bytes || !bytes->is_int64() || bytes->as_int64() < 0 || bytes->as_int64() > kMaxBigBytes) {
    return BadArgs("big: args.bytes must be an integer from 0 to " + std::to_string(kMaxBigBytes));
  }
  std::string data(static_cast<size_t>(bytes->as_int64()), 'x');
  ToolOutcome o;
  o.body = json::object{{"bytes", bytes->as_int64()}, {"data", std::move(data)}};
  return o;
}

ToolOutcome Sleep(const json::object& args) {
  const json::value* ms = args.if_contains("ms");
  if (!ms || !ms->is_int64() || ms->as_int64() < 0 || ms->as_int64() > kMaxSleepMs) {
    return BadArgs("sleep: args.ms must be an integer from 0 to " + std::to_string(kMaxSleepMs));
  }
  ToolOutcome o;
  o.sleep_ms = ms->as_int64();
  o.body = json::object{{"slept_ms", o.sleep_ms}};
  return o;
}

}  // namespace

ToolOutcome RunTool(const std::string& name, const json::object& args) {
  if (name == "echo") {
    ToolOutcome o;
    o.body = json::object{{"echo", args}};
    return o;
  }
  if (name == "get_weather") return Weather(args);
  if (name == "add") return Add(args);
  if (name == "big") return Big(args);
  if (name == "sleep") return Sleep(args);
  ToolOutcome o;
  o.body = json::object{{"tool", name}, {"args", args}};
  return o;
}

}  // namespace keel::sim
