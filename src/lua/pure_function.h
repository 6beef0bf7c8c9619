#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"

namespace keel::lua {

// Limits of one call of a pure function. Each call runs in a fresh state, so the memory cap
// bounds that call alone.
struct PureLimits {
  size_t max_memory_bytes = 16 << 20;
  int64_t max_instructions = 100'000'000;
};

// A Lua file whose chunk returns function(args) -> value, checked and compiled once.
// Immutable; shared by every call.
struct PureFunction {
  std::string file_name;   // as given, for error messages
  std::string chunk_name;  // "@" + file_name
  std::string bytecode;    // produced by us from checked source, never accepted from users
};

// Parses `source` and runs its top level once in a sandbox to check that it returns a
// function. Errors (kInvalidArgument) name the file: "tools/add.lua:3: ...".
Result<std::shared_ptr<const PureFunction>> CompilePureFunction(const std::string& file_name,
                                                                const std::string& source,
                                                                const PureLimits& limits = {});
// Reads `path` and compiles it; a missing or unreadable file is kNotFound naming the path.
Result<std::shared_ptr<const PureFunction>> LoadPureFunction(const std::string& path,
                                                             const PureLimits& limits = {});

// Calls the function with `args_json` as a Lua value (objects become tables, null nil) in a
// fresh sandbox with the workflow sandbox's rules (no io, os or require; text-only load) and
// returns its result as JSON text ("null" for nil). A Lua error, a limit or a return value
// that is not JSON is kScript with "file:line: message". `interrupt`, when set from another
// thread, stops the function at its next instruction-count check (kScript, "stopped").
// `log` receives print() output; may be empty. Thread-safe: calls share nothing.
Result<std::string> RunPureFunction(const PureFunction& fn, std::string_view args_json,
                                    const PureLimits& limits = {},
                                    const std::atomic<bool>* interrupt = nullptr,
                                    const std::function<void(const std::string&)>& log = {});

}  // namespace keel::lua
