#include "base/duration.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <string>

namespace keel {

Result<int64_t> ParseDurationMs(std::string_view text) {
  auto bad = [&] {
    return Error{
        Errc::kInvalidArgument,
        "invalid duration \"" + std::string(text) +
            "\": expected a number with a unit ms, s, m, h or d (e.g. \"250ms\", \"30s\")"};
  };
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  if (i == 0) return bad();
  double number = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, number);
  if (ec != std::errc() || ptr != text.data() + i || !std::isfinite(number)) return bad();
  std::string_view unit = text.substr(i);
  double factor;
  if (unit.empty() || unit == "ms")
    factor = 1;
  else if (unit == "s")
    factor = 1000;
  else if (unit == "m")
    factor = 60'000;
  else if (unit == "h")
    factor = 3'600'000;
  else if (unit == "d")
    factor = 86'400'000;
  else
    return bad();
  double ms = number * factor;
  if (ms > 1e15) return bad();
  return static_cast<int64_t>(std::llround(ms));
}

}  // namespace keel
