#pragma once

// JSON and HTTP helpers the provider adapters share; private to this folder.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "base/result.h"
#include "gateway/http/async_http.h"
#include "gateway/providers/provider.h"

namespace keel::gateway::wire {

// At most `max` bytes of `text` for an error message, cut on a UTF-8 boundary, with "..."
// when cut.
std::string Snippet(std::string_view text, size_t max = 200);

// Parses `text`; the error is the parser's description.
Result<boost::json::value> ParseJson(std::string_view text);

// Field readers that tolerate a missing field or one of another type (they return the
// fallback), so a provider adding or nulling a field never breaks parsing.
std::string_view GetString(const boost::json::object& o, std::string_view key);
const boost::json::object* GetObject(const boost::json::object& o, std::string_view key);
const boost::json::array* GetArray(const boost::json::object& o, std::string_view key);
// Integers, or doubles with an integral value; `fallback` otherwise.
int64_t GetInt(const boost::json::object& o, std::string_view key, int64_t fallback = 0);

// A string as itself, null or missing as "", anything else as JSON text.
std::string AsText(const boost::json::value* v);

// base_url + "/" + path with exactly one slash between them.
std::string JoinUrl(std::string_view base_url, std::string_view path);

// `defaults` followed by `extra`; an extra header replaces a default of the same name
// (case-insensitively) so a config can override, say, anthropic-version.
std::vector<std::pair<std::string, std::string>> MergeHeaders(
    std::vector<std::pair<std::string, std::string>> defaults,
    const std::vector<std::pair<std::string, std::string>>& extra);

// The error a provider put in a non-2xx body: {"error": {"message", "type", "code"}} (both
// OpenAI's and Anthropic's shape), {"error": "text"}, {"message": ...} or {"detail": ...}.
struct ProviderError {
  std::string message;  // "" when the body carries none
  std::string type;
  std::string code;
};
ProviderError ParseProviderError(std::string_view body);

// "HTTP <status>: <first bytes of the body>", for bodies without a readable message.
std::string StatusMessage(int status, std::string_view body);

// The status-only part of the classification: which HTTP statuses are worth retrying.
FailureClass ClassifyStatus(int status);

bool ContainsIgnoreCase(std::string_view haystack, std::string_view needle);

}  // namespace keel::gateway::wire
