#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "engine/engine.h"
#include "observability/metrics.h"

namespace keel::api {

struct HttpOptions {
  std::string listen = "127.0.0.1:8080";  // host:port; port 0 = pick a free port
  size_t max_body_bytes = 1 << 20;
  size_t max_json_depth = 64;
  int threads = 1;               // io_context threads
  int64_t max_wait_ms = 300000;  // cap for ?wait=
  int64_t sse_keepalive_ms = 15000;
};

struct RouteInfo {
  std::string method;
  std::string path;  // template, e.g. "/v1/runs/{id}/signals/{name}"
};

// The HTTP/1.1 API of docs/api/http.md, served by Boost.Beast on `threads` io threads.
//
// Each connection runs on its own strand; handlers never block on the engine (engine callbacks
// are posted back to the connection's strand). The server does not own the engine or the
// metrics registry: both must outlive it. Engine callbacks that arrive after Stop() are
// ignored, so the engine may outlive the server with requests in flight.
//
// Start, SetDraining, SetMetricsHook and Stop are thread-safe; Stop must not be called from a
// request handler (it joins the io threads).
class HttpServer {
 public:
  HttpServer(HttpOptions opts, engine::Engine& engine, obs::Registry& metrics);
  ~HttpServer();  // calls Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the io threads; returns the bound port. kInvalidArgument when
  // the listen address is malformed or cannot be resolved, kUnavailable when it cannot be
  // bound (in use, not permitted). Call once.
  Result<int> Start();

  // While draining, POST /v1/runs, /signals/{name}, /interrupt and /v1/approvals/{id}/decision
  // answer 503 unavailable with Retry-After: 5, and /readyz answers 503 {"status":"draining"}.
  // Reads keep working.
  void SetDraining(bool draining);

  // Closes the listener and every connection (event streams included), then joins the io
  // threads. Idempotent.
  void Stop();

  // Every (method, path template) the server serves.
  static const std::vector<RouteInfo>& Routes();

  // Text appended to the /metrics body after the registry's rendering (gauges computed on
  // demand by the composition root). Called on an io thread for each scrape.
  void SetMetricsHook(std::function<std::string()> hook);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel::api
