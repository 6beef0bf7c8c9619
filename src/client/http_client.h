#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"

namespace keel::client {

struct Response {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lowercase names; repeated headers joined ", "
};

// Called once per Server-Sent Event. `id` is the last event id seen so far (it persists across
// events, as in the SSE spec), `event` defaults to "message". Return false to stop reading.
using SseHandler =
    std::function<bool(const std::string& id, const std::string& event, const std::string& data)>;

// A synchronous HTTP/1.1 client over one keep-alive TCP connection to one server (plain HTTP
// only). The address is resolved once, at the first connect; a connection the server closed
// while idle is replaced transparently, and a request that fails on a reused connection before
// any response byte arrived is retried once on a fresh one. Never throws.
//
// An HTTP error status is not an Error: Get/Post/Request return the Response whatever its
// status. Errors are transport failures: Errc::kUnavailable (cannot connect, connection lost),
// Errc::kTimeout (the request took longer than timeout_ms), Errc::kInvalidArgument.
//
// Not thread-safe: use one HttpClient per thread. Movable, not copyable.
class HttpClient {
 public:
  HttpClient(std::string host, int port, int64_t timeout_ms = 30000);
  ~HttpClient();
  HttpClient(HttpClient&&) noexcept;
  HttpClient& operator=(HttpClient&&) noexcept;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // "http://127.0.0.1:8080", "http://localhost:8080/", "http://[::1]:8080", "localhost:8080".
  // The port defaults to 80. Errc::kInvalidArgument for anything else (https, a path).
  static Result<HttpClient> FromUrl(const std::string& base_url, int64_t timeout_ms = 30000);

  // "http://host:port", as used in error messages.
  std::string BaseUrl() const;
  int64_t timeout_ms() const;
  // Applies to the following requests (e.g. raise it for POST /v1/runs?wait=...).
  void set_timeout_ms(int64_t timeout_ms);

  Result<Response> Get(const std::string& target,
                       const std::map<std::string, std::string>& headers = {});
  // A non-empty body goes out as Content-Type: application/json unless `headers` names another.
  Result<Response> Post(const std::string& target, const std::string& body,
                        const std::map<std::string, std::string>& headers = {});
  Result<Response> Request(std::string_view method, const std::string& target,
                           const std::string& body = {},
                           const std::map<std::string, std::string>& headers = {});

  // GET `target` as a Server-Sent Events stream and call on_event per event until the server
  // ends the stream, on_event returns false, or no byte arrived for timeout_ms (the server sends
  // a keepalive comment every 15 s) -> Errc::kTimeout. Returns the last event id seen (or the
  // Last-Event-ID passed in `headers` when no event carried an id).
  // A non-2xx answer is an Error whose code follows the HTTP status (404 -> kNotFound, 503 ->
  // kUnavailable, ...) and whose message is the response body (the server's error JSON).
  Result<std::string> Stream(const std::string& target,
                             const std::map<std::string, std::string>& headers,
                             const SseHandler& on_event);

  // Number of TCP connections opened so far (for tests and benchmarks).
  int64_t connections_opened() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Maps an HTTP error status to the closest Errc (400 -> kInvalidArgument, 404 -> kNotFound,
// 409 -> kConflict, 503 -> kUnavailable, 504/408 -> kTimeout, 507 -> kStorageFull, else kInternal).
Errc ErrcForHttpStatus(int status);

// Percent-encodes everything but RFC 3986 unreserved characters, for path segments and query
// values.
std::string UrlEncode(std::string_view text);

}  // namespace keel::client
