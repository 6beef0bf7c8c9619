#include "api/errors.h"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace keel::api {

ApiError ToApiError(const Error& e) {
  switch (e.code) {
    case Errc::kInvalidArgument:
      return {400, "invalid_argument", e.message};
    case Errc::kNotFound:
      return {404, "not_found", e.message};
    case Errc::kConflict:
      return {409, "conflict", e.message};
    case Errc::kAlreadyFinished:
      return {409, "already_finished", e.message};
    case Errc::kUnavailable:
      return {503, "unavailable", e.message};
    case Errc::kStorageFull:
      return {507, "storage_full", e.message};
    case Errc::kStorage:
      return {500, "storage_error", e.message};
    default:
      return {500, "internal", e.message};
  }
}

ApiError SubmitToApiError(const Error& e) {
  if (e.code == Errc::kNotFound || e.message.rfind("unknown intent", 0) == 0) {
    return {404, "unknown_intent", e.message};
  }
  return ToApiError(e);
}

ApiError InvalidJson(std::string message) { return {400, "invalid_json", std::move(message)}; }
ApiError InvalidArgument(std::string message) {
  return {400, "invalid_argument", std::move(message)};
}
ApiError NotFound(std::string message) { return {404, "not_found", std::move(message)}; }
ApiError MethodNotAllowed(std::string message) {
  return {405, "method_not_allowed", std::move(message)};
}
ApiError PayloadTooLarge(std::string message) {
  return {413, "payload_too_large", std::move(message)};
}
ApiError Unavailable(std::string message) { return {503, "unavailable", std::move(message)}; }
ApiError Internal(std::string message) { return {500, "internal", std::move(message)}; }

std::string ErrorJson(std::string_view code, std::string_view message) {
  boost::json::object inner;
  inner["code"] = code;
  inner["message"] = message;
  boost::json::object o;
  o["error"] = std::move(inner);
  return boost::json::serialize(o);
}

Response ErrorResponse(const ApiError& e) {
  Response r;
  r.status = e.status;
  r.body = ErrorJson(e.code, e.message);
  if (e.status == 503) r.headers.emplace_back("Retry-After", "5");
  r.log_code = e.code;
  r.log_message = e.message;
  return r;
}

}  // namespace keel::api
