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

// Parses `text`, which must be a JSON object; the error names it as `what` ("response",
// "stream event") and quotes its first bytes.
Result<boost::json::object> ParseObject(std::string_view text, std::string_view what);

// Field readers that tolerate a missing field or one of another type (they return the
// fallback), so a provider adding or nulling a field never breaks parsing.
std::string_view GetString(const boost::json::object& o, std::string_view key);
const boost::json::object* GetObject(const boost::json::object& o, std::string_view key);
const boost::json::array* GetArray(const boost::json::object& o, std::string_view key);
// Integers, or doubles with an integral value; `fallback` otherwise.
int64_t GetInt(const boost::json::object& o, std::string_view key, int64_t fallback = 0);

// The token counts in `o`'s "usage" object, under the provider's names for them, into `r`
// (which then says usage was reported); `r` is left alone when `o` has no usage.
void ReadUsage(const boost::json::object& o, std::string_view input_key,
               std::string_view output_key, ChatResponse& r);
// ReadUsage, and the "id" and "model" both APIs put beside "usage" in a message.
void ReadMessageInfo(const boost::json::object& o, std::string_view input_key,
                     std::string_view output_key, ChatResponse& r);

// A string as itself, null or missing as "", anything else as JSON text.
std::string AsText(const boost::json::value* v);

// base_url + "/" + path with exactly one slash between them.
std::string JoinUrl(std::string_view base_url, std::string_view path);

// `defaults` followed by `extra`; an extra header replaces a default of the same name
// (case-insensitively) so a config can override, say, anthropic-version.
std::vector<std::pair<std::string, std::string>> MergeHeaders(
    std::vector<std::pair<std::string, std::string>> defaults,
    const std::vector<std::pair<std::string, std::string>>& extra);

// A POST of `body` to the provider's base_url + `path` with `headers`, which the provider's
// configured headers override (MergeHeaders).
HttpRequest JsonPost(const ProviderConfig& provider, std::string_view path,
                     std::vector<std::pair<std::string, std::string>> headers,
                     const boost::json::object& body);

// One tool of the neutral format in a provider's shape. `description` and `parameters` are
// the tool's fields as they are, null when missing.
using ToolToWire = boost::json::value (*)(std::string_view name,
                                          const boost::json::value* description,
                                          const boost::json::value* parameters);
// Sets body["tools"] to the request's tools (those that are objects) through `to_wire`;
// leaves `body` alone when the request has no tools.
void PutTools(const boost::json::object& request, boost::json::object& body, ToolToWire to_wire);

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

// ProviderAdapter::ClassifyError: kSpendLimit when `is_spend_limit` says so (each provider
// words an empty account its own way), else by the status alone. `message` (may be null)
// receives the body's error message, or StatusMessage when it carries none.
FailureClass ClassifyError(int status, std::string_view body, std::string* message,
                           bool (*is_spend_limit)(int status, const ProviderError& error));

bool ContainsIgnoreCase(std::string_view haystack, std::string_view needle);

}  // namespace keel::gateway::wire
