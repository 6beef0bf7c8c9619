#pragma once

#include <cstdint>
#include <string_view>

#include "base/result.h"

namespace keel {

// Parses "250ms", "30s", "5m", "24h", "2d" (one unit, non-negative integer or decimal) into
// milliseconds. A bare number is milliseconds.
Result<int64_t> ParseDurationMs(std::string_view text);

}  // namespace keel
