#pragma once

// The gateway and agent workloads of docs/PERFORMANCE.md, each against a real `keel serve`
// whose model provider (and tool) is a real `keel-llm-sim` at zero latency:
//
// - G1: the time Keel adds to each model call. The same small chat request straight to the
//   simulator, then as `ctx.llm` calls of runs (bench/workflows/g1.lua), then as plain
//   `ctx.step`s (w1.lua) for comparison; Keel's own time per call is read by a timing proxy
//   between Keel and the simulator (timing_proxy.h).
// - G2: runs per second of a 3-call agent (model -> tool -> model), the standard agent loop.
//
// Both take --c (concurrent runs, default 1) and print one JSON line.

#include <boost/json.hpp>

#include "bench/workload.h"

namespace keel::bench {

boost::json::object RunG1(const Options& o);
boost::json::object RunG2(const Options& o);

}  // namespace keel::bench
