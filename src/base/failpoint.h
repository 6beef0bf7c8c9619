#pragma once

#include <string_view>

namespace keel {

// Crash tests kill the server at exact places: with KEEL_FAILPOINTS="name" (or "name@N",
// the N-th time it is reached; several comma-separated) in the environment, reaching
// Failpoint("name") sends SIGKILL to the process, as a power cut would. Without the
// variable it costs one branch. The names in use are listed in docs/testing.md.
void Failpoint(std::string_view name);

}  // namespace keel
