#pragma once

// KEEL_CHECK is always fatal: it guards invariants of our own code, never input from the
// network, the disk, a model or a user (those are Errors). KEEL_DCHECK is debug-only.
#define KEEL_CHECK(cond)                                                   \
  do {                                                                     \
    if (!(cond)) ::keel::internal::CheckFailed(#cond, __FILE__, __LINE__); \
  } while (0)

#ifdef NDEBUG
#define KEEL_DCHECK(cond) \
  do {                    \
  } while (0)
#else
#define KEEL_DCHECK(cond) KEEL_CHECK(cond)
#endif

namespace keel::internal {
[[noreturn]] void CheckFailed(const char* expr, const char* file, int line);
}  // namespace keel::internal
