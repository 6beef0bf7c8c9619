#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

#include "observability/metrics.h"

namespace keel::api {

// Every metric the HTTP API exports (STYLE.md rule 12).
inline constexpr char kHttpRequestsTotal[] = "keel_http_requests_total";
inline constexpr char kHttpRequestsTotalHelp[] =
    "HTTP requests answered, by route template and status code.";
inline constexpr char kHttpRequestSeconds[] = "keel_http_request_seconds";
inline constexpr char kHttpRequestSecondsHelp[] =
    "Time from reading a request's headers to writing its response (event streams: to their "
    "headers), by route template.";
inline constexpr char kHttpConnections[] = "keel_http_connections";
inline constexpr char kHttpConnectionsHelp[] = "Open HTTP connections.";
inline constexpr char kHttpEventStreams[] = "keel_http_event_streams";
inline constexpr char kHttpEventStreamsHelp[] = "Open server-sent event streams.";

// Caches the registry's metric objects so recording a request takes no lock. Thread-safe.
class ApiMetrics {
 public:
  explicit ApiMetrics(obs::Registry& registry);

  // `route_index` is an index into RouteTable(), or RouteTable().size() for unmatched requests.
  void Record(size_t route_index, int status, double seconds);

  obs::Gauge& connections() { return connections_; }
  obs::Gauge& event_streams() { return event_streams_; }

 private:
  static constexpr int kMaxStatus = 600;
  struct PerRoute {
    obs::Histogram* latency = nullptr;
    std::array<std::atomic<obs::Counter*>, kMaxStatus> by_status{};
  };

  std::string RouteLabel(size_t route_index) const;

  obs::Registry& registry_;
  std::vector<std::unique_ptr<PerRoute>> routes_;  // one per route, then "unmatched"
  obs::Gauge& connections_;
  obs::Gauge& event_streams_;
};

}  // namespace keel::api
