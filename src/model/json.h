#pragma once

#include <boost/json.hpp>
#include <string>
#include <string_view>

#include "base/result.h"
#include "model/run.h"

namespace keel::model {

struct JsonLimits {
  size_t max_bytes = 1 << 20;  // 1 MiB
  size_t max_depth = 64;
};

// Parses untrusted JSON text within limits; never throws.
Result<boost::json::value> ParseJson(std::string_view text, const JsonLimits& limits = {});

// Validates an invocation envelope; the error message names the offending field.
Result<Envelope> EnvelopeFromJson(const boost::json::value& v);

boost::json::object BudgetToJson(const Budget& b);
boost::json::object RunToJson(const RunRecord& run);
boost::json::object EntryToJson(const JournalEntry& e);
// Parses stored JSON text we wrote ourselves; returns null on corruption rather than throwing.
boost::json::value StoredJson(std::string_view text);

}  // namespace keel::model
