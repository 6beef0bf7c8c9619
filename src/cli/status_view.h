#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <string>

// `keel status`: the node's state as GET /v1/status serves it.
namespace keel::cli {

// "key: value" lines for the engine (ready or draining, resident and queued runs, intents),
// then a table BREAKER STATE REQUESTS FAILURES RETRY AT of the gateway's circuit breakers
// ("breakers: none" when there are none yet). `now_ms` turns retry times into "in 40s".
std::string FormatStatus(const boost::json::object& status, int64_t now_ms);

}  // namespace keel::cli
