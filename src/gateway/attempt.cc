#include "gateway/gateway.h"

namespace keel::gateway {

boost::json::object AttemptToJson(const Attempt& a) {
  boost::json::object o;
  o["target"] = a.target;
  o["attempt"] = a.attempt;
  o["outcome"] = a.outcome;
  if (a.http_status) o["http_status"] = a.http_status;
  if (!a.error.empty()) o["error"] = a.error;
  o["latency_ms"] = a.latency_ms;
  if (a.backoff_ms) o["backoff_ms"] = a.backoff_ms;
  return o;
}

}  // namespace keel::gateway
