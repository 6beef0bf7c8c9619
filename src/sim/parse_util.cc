#include "sim/parse_util.h"

#include <cmath>

#include "base/duration.h"

namespace keel::sim {

namespace json = boost::json;

namespace {

Error Bad(const std::string& where, const std::string& what) {
  return Error{Errc::kInvalidArgument, where + ": " + what};
}

}  // namespace

Status CheckKeys(const json::object& o, std::initializer_list<std::string_view> allowed,
                 const std::string& where) {
  for (const auto& kv : o) {
    bool known = false;
    for (auto a : allowed) known = known || kv.key() == a;
    if (!known) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return Bad(where + "." + std::string(kv.key()),
                 "unknown key (expected one of: " + list + ")");
    }
  }
  return OkStatus();
}

Result<const json::object*> AsObject(const json::value& v, const std::string& where) {
  if (!v.is_object()) return Bad(where, "must be an object");
  return &v.as_object();
}

Result<std::string> AsString(const json::value& v, const std::string& where) {
  if (!v.is_string()) return Bad(where, "must be a string");
  return std::string(v.as_string());
}

Result<int64_t> AsInt(const json::value& v, const std::string& where) {
  if (v.is_int64()) return v.as_int64();
  if (v.is_uint64() && v.as_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    return static_cast<int64_t>(v.as_uint64());
  }
  if (v.is_double() && std::floor(v.as_double()) == v.as_double() &&
      std::fabs(v.as_double()) < 9e15) {
    return static_cast<int64_t>(v.as_double());
  }
  return Bad(where, "must be an integer");
}

Result<double> AsRate(const json::value& v, const std::string& where) {
  if (!v.is_number()) return Bad(where, "must be a number between 0 and 1");
  double d = v.to_number<double>();
  if (!(d >= 0.0 && d <= 1.0)) return Bad(where, "must be a number between 0 and 1");
  return d;
}

Result<bool> AsBool(const json::value& v, const std::string& where) {
  if (!v.is_bool()) return Bad(where, "must be true or false");
  return v.as_bool();
}

Result<int64_t> AsDurationMs(const json::value& v, const std::string& where) {
  if (v.is_number()) {
    auto n = AsInt(v, where);
    if (!n || *n < 0) return Bad(where, "must be a duration such as \"250ms\" or \"1s\"");
    return *n;
  }
  if (!v.is_string()) return Bad(where, "must be a duration such as \"250ms\" or \"1s\"");
  auto ms = ParseDurationMs(std::string_view(v.as_string()));
  if (!ms) return Bad(where, ms.error().message);
  return *ms;
}

}  // namespace keel::sim
