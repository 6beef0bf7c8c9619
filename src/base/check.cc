#include "base/check.h"

#include <cstdio>
#include <cstdlib>

namespace keel::internal {

void CheckFailed(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "KEEL_CHECK failed: %s at %s:%d\n", expr, file, line);
  std::abort();
}

}  // namespace keel::internal
