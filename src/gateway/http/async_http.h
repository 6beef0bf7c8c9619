#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/cancel.h"

namespace keel::gateway {

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // "Content-Type", "application/json"
  std::string body;
  int64_t timeout_ms = 60'000;         // the whole exchange; 0: none
  int64_t connect_timeout_ms = 5'000;  // TCP (and TLS) connect
  // A response that sends no byte for this long is abandoned as stalled (kStalled); 0: never.
  int64_t idle_timeout_ms = 0;
};

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;  // the whole body; empty when the caller streamed it through on_data
  // First header named `name` (lower-case), or "".
  std::string Header(std::string_view name) const;
};

// How an exchange ended before (or instead of) a complete HTTP response.
enum class TransportError {
  kNone,       // a complete response arrived (any status)
  kConnect,    // could not connect (refused, DNS, TLS)
  kTimeout,    // timeout_ms passed
  kStalled,    // idle_timeout_ms passed with no data
  kReset,      // the peer closed or reset the connection mid-exchange
  kCancelled,  // the CancelToken fired
  kOther,
};
const char* TransportErrorName(TransportError e);

struct HttpResult {
  TransportError error = TransportError::kNone;
  std::string error_message;  // human-readable, names the URL's host
  HttpResponse response;      // status/headers valid when error == kNone
  int64_t latency_ms = 0;
};

// An asynchronous HTTP/1.1 client on libcurl's multi interface: one thread drives every
// transfer, connections are reused per host, TLS and proxies come from libcurl (so
// HTTPS_PROXY / NO_PROXY in the environment apply). Thread-safe; callbacks run on the
// client's thread and must not block.
class AsyncHttpClient {
 public:
  // Streaming body bytes, in order, only for 2xx responses when on_data is set; non-2xx
  // bodies are always collected into HttpResponse::body (to read the error).
  using DataFn = std::function<void(std::string_view chunk)>;
  using DoneFn = std::function<void(HttpResult result)>;

  struct Options {
    int max_connections_per_host = 128;
    int max_total_connections = 512;
  };
  AsyncHttpClient();
  explicit AsyncHttpClient(Options options);
  ~AsyncHttpClient();  // aborts transfers in flight (their done gets kCancelled), joins
  AsyncHttpClient(const AsyncHttpClient&) = delete;
  AsyncHttpClient& operator=(const AsyncHttpClient&) = delete;

  // Starts an exchange. `done` is called exactly once. `cancel` may be null.
  void Send(HttpRequest request, std::shared_ptr<CancelToken> cancel, DataFn on_data, DoneFn done);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel::gateway
