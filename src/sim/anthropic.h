#pragma once

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "base/result.h"
#include "sim/chat.h"

namespace keel::sim {

// The Anthropic Messages wire format (POST /v1/messages).

// Validates and translates a request body. A user message's tool_result blocks become "tool"
// messages (in order, before the message's own text), so rules see the same conversation
// shape as with OpenAI.
Result<ChatRequest> ParseAnthropicRequest(const boost::json::value& body);

// A message object.
std::string AnthropicBody(const Completion& c);

// The SSE frames of a streamed answer ("event: <type>\ndata: {...}\n\n").
std::vector<std::string> AnthropicStream(const Completion& c);

// {"type": "error", "error": {"type", "message"}} with the type following `status`.
std::string AnthropicError(int status, const std::string& message);

// The 400 body of an account out of credit.
std::string AnthropicSpendLimit();

// GET /v1/models as the Anthropic API answers it (when the request has anthropic-version).
std::string AnthropicModels(const std::vector<std::string>& models);

}  // namespace keel::sim
