#pragma once

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "base/result.h"
#include "sim/chat.h"

namespace keel::sim {

// The OpenAI Chat Completions wire format (POST /v1/chat/completions).

// Validates and translates a request body; the error message names the offending parameter,
// as the real API's 400 does.
Result<ChatRequest> ParseOpenAiRequest(const boost::json::value& body);

// A chat.completion object.
std::string OpenAiBody(const Completion& c);

// The SSE frames of a streamed answer ("data: {chunk}\n\n" ... "data: [DONE]\n\n").
std::vector<std::string> OpenAiStream(const Completion& c, bool include_usage);

// {"error": {"message", "type", "param", "code"}} with type/code following `status`.
std::string OpenAiError(int status, const std::string& message);

// The 429 insufficient_quota body of an account out of credit.
std::string OpenAiSpendLimit();

// GET /v1/models.
std::string OpenAiModels(const std::vector<std::string>& models);

}  // namespace keel::sim
