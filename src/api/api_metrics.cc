#include "api/api_metrics.h"

#include <string>

#include "api/router.h"

namespace keel::api {

ApiMetrics::ApiMetrics(obs::Registry& registry)
    : registry_(registry),
      connections_(registry.GetGauge(kHttpConnections, kHttpConnectionsHelp)),
      event_streams_(registry.GetGauge(kHttpEventStreams, kHttpEventStreamsHelp)) {
  size_t n = RouteTable().size() + 1;
  routes_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    auto r = std::make_unique<PerRoute>();
    r->latency = &registry_.GetHistogram(kHttpRequestSeconds, kHttpRequestSecondsHelp,
                                         obs::LatencyBuckets(), RouteLabel(i));
    routes_.push_back(std::move(r));
  }
}

std::string ApiMetrics::RouteLabel(size_t route_index) const {
  const auto& table = RouteTable();
  std::string_view route = route_index < table.size() ? table[route_index].path : kUnmatchedRoute;
  return "route=\"" + std::string(route) + "\"";
}

void ApiMetrics::Record(size_t route_index, int status, double seconds) {
  if (route_index >= routes_.size()) route_index = routes_.size() - 1;
  PerRoute& r = *routes_[route_index];
  r.latency->Observe(seconds);
  if (status < 0 || status >= kMaxStatus) status = 0;
  obs::Counter* c = r.by_status[status].load(std::memory_order_acquire);
  if (c == nullptr) {
    // The registry returns the same object for the same labels, so a race here is harmless.
    c = &registry_.GetCounter(kHttpRequestsTotal, kHttpRequestsTotalHelp,
                              RouteLabel(route_index) + ",code=\"" + std::to_string(status) + "\"");
    r.by_status[status].store(c, std::memory_order_release);
  }
  c->Add();
}

}  // namespace keel::api
