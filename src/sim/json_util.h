#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace keel::sim {

// Parses `text` as JSON; the error names what failed to parse.
Result<boost::json::value> ParseJson(std::string_view text);

// `v` re-serialized with every object's keys sorted, so that two requests that differ only in
// key order or whitespace serialize identically.
std::string CanonicalJson(const boost::json::value& v);

// 16 hex digits of the FNV-1a hash of CanonicalJson(v).
std::string Fingerprint(const boost::json::value& v);

// Number of Unicode code points in UTF-8 `text` (what "characters" means for token counts).
int64_t CountChars(std::string_view text);

// The approximate token count the simulator reports: ceil(chars / 4).
int64_t TokensForChars(int64_t chars);

// The first `max_chars` code points of `text`.
std::string TruncateChars(std::string_view text, int64_t max_chars);

// A JSON-pointer-free way to read an optional member: nullptr when `o` has no `key`.
const boost::json::value* Find(const boost::json::object& o, std::string_view key);

}  // namespace keel::sim
