#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "gateway/config.h"
#include "gateway/http/async_http.h"
#include "gateway/tools/tool_attempt.h"

namespace keel::gateway {

// One attempt of an HTTP tool: `method` to `url`, the arguments as a JSON body (for GET and
// HEAD, as query parameters: strings as they are, other values as JSON text, nulls left out),
// with Content-Type, Idempotency-Key, traceparent (when not empty) and the configured
// headers, in that order.
HttpRequest BuildHttpToolRequest(const ToolConfig& tool, const boost::json::object& args,
                                 const std::string& idempotency_key, const std::string& traceparent,
                                 int64_t timeout_ms);

// 2xx: the body verbatim if it is JSON, else as a JSON string (an empty body is null).
// 4xx but 408/429: kToolError with the body's message. 408, 429, 5xx and transport failures:
// kRetryable (Retry-After read against `now_wall_ms`). A timeout when `timeout_is_deadline`
// (the caller's deadline, not the tool's timeout, set it): kDeadline.
AttemptOutcome ClassifyHttpToolResult(HttpResult r, bool timeout_is_deadline, int64_t now_wall_ms);

// What an error body says, for a message: error.message, error (a string), message or detail
// of a JSON object, else the body itself; at most 500 bytes.
std::string ErrorBodyMessage(std::string_view body);

}  // namespace keel::gateway
