#pragma once

#include <string>

namespace keel::bench {

// Prints the summary table of a results directory (bench/run_all.sh's output). Returns 0.
int Summary(const std::string& dir);

}  // namespace keel::bench
