#pragma once

#include <boost/json/array.hpp>
#include <string>

// `keel outbox ls`: side-effect intents (GET /v1/outbox) as text.
namespace keel::cli {

// Table KEY TARGET STATUS ATTEMPTS NEXT-ATTEMPT LAST-ERROR: ATTEMPTS is "<made>/<max>", the
// next attempt a UTC time for a pending intent ("-" otherwise), the last error cut to 60 code
// points.
std::string FormatOutboxTable(const boost::json::array& intents);

}  // namespace keel::cli
