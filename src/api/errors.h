#pragma once

#include <string>
#include <string_view>

#include "api/call.h"
#include "base/error.h"

namespace keel::api {

// An error as the HTTP API shows it: status, stable code (docs/api/http.md) and a message.
struct ApiError {
  int status = 500;
  std::string code;
  std::string message;
};

// Errc -> HTTP status and code, for every route.
ApiError ToApiError(const Error& e);
// POST /v1/runs: an unknown intent (kNotFound, or any error whose message starts with
// "unknown intent") is 404 unknown_intent; everything else as ToApiError.
ApiError SubmitToApiError(const Error& e);

ApiError InvalidJson(std::string message);
ApiError InvalidArgument(std::string message);
ApiError NotFound(std::string message);
ApiError MethodNotAllowed(std::string message);
ApiError PayloadTooLarge(std::string message);
ApiError Unavailable(std::string message);
ApiError Internal(std::string message);

// {"error": {"code": ..., "message": ...}}
std::string ErrorJson(std::string_view code, std::string_view message);
// The full response, with Retry-After: 5 on 503.
Response ErrorResponse(const ApiError& e);

}  // namespace keel::api
