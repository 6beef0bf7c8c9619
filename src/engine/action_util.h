#pragma once

// Small helpers shared by the engine's action handlers (private to the engine).

#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "base/duration.h"
#include "base/hash.h"
#include "base/result.h"
#include "model/json.h"

namespace keel::engine::detail {

// Fields of an action's JSON argument or of a journaled result, with a default when absent
// or of another type.
inline std::string StringField(const boost::json::object& o, std::string_view key,
                               std::string fallback = "") {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : fallback;
}

inline bool BoolField(const boost::json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_bool() && v->get_bool();
}

inline int64_t IntField(const boost::json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v) return 0;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->get_uint64());
  if (v->is_double()) return static_cast<int64_t>(v->get_double());
  return 0;
}

inline double DoubleField(const boost::json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v) return 0;
  if (v->is_double()) return v->get_double();
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  return 0;
}

// W3C trace context for a call: the trace is `trace_of` (a run id: a UUID is 32 hex digits),
// the span a hash of `span_of` (never all zeros, which W3C forbids).
inline std::string TraceParent(const std::string& trace_of, const std::string& span_of) {
  std::string trace;
  for (char c : trace_of) {
    if (std::isxdigit(static_cast<unsigned char>(c))) {
      trace += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  if (trace.size() != 32 || trace.find_first_not_of('0') == std::string::npos) {
    trace = Hex64(Fnv1a64(trace_of)) + Hex64(Fnv1a64(trace_of + "#"));
  }
  return "00-" + trace + "-" + Hex64(Fnv1a64(span_of) | 1) + "-01";
}

// A ctx error as Lua receives it: {"code", "message"} (plus `extra` fields), raised as a table.
inline std::string ErrorJson(const std::string& code, const std::string& message,
                             boost::json::object extra = {}) {
  extra["code"] = code;
  extra["message"] = message;
  return boost::json::serialize(extra);
}

// The second value ctx.tool returns: what the prelude needs to register an undo step.
inline std::string ToolMeta(const std::string& compensate_with) {
  if (compensate_with.empty()) return "null";
  return boost::json::serialize(boost::json::object{{"compensate_with", compensate_with}});
}

// The earlier of two deadlines, 0 meaning none.
inline int64_t EarliestDeadline(int64_t a, int64_t b) {
  if (a == 0) return b;
  if (b == 0) return a;
  return a < b ? a : b;
}

// Whether a call that ended with deadline_exceeded ran out of its own timeout (a step timeout
// the workflow can catch) rather than the run's deadline.
inline bool StepTimedOut(int64_t now, int64_t run_deadline, int64_t call_deadline) {
  return call_deadline > 0 && (run_deadline == 0 || now < run_deadline);
}

// The duration option `key` of an action's argument object ("30s" or milliseconds); 0 when
// absent.
inline Result<int64_t> DurationOption(const std::string& arg_json, std::string_view key) {
  boost::json::value v = model::StoredJson(arg_json);
  const boost::json::value* d = v.is_object() ? v.as_object().if_contains(key) : nullptr;
  if (!d || d->is_null()) return int64_t{0};
  if (d->is_string()) return ParseDurationMs(std::string(d->get_string()));
  if (d->is_int64() && d->get_int64() >= 0) return d->get_int64();
  if (d->is_double() && d->get_double() >= 0 && d->get_double() < 1e15)
    return static_cast<int64_t>(d->get_double());
  return Error{Errc::kInvalidArgument,
               std::string(key) + " must be a duration such as \"30s\" or milliseconds"};
}

}  // namespace keel::engine::detail
