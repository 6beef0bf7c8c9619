#pragma once

// Internal to keel::lua: the sandbox shared by workflows (workflow_vm.cc) and Lua tools
// (pure_function.cc), so both run under the same rules: no io/os/dofile/loadfile, text-only
// load, require only from Keel's library directory, no string.dump, unseeded randomness
// fenced off, a memory cap enforced by the allocator and an instruction budget enforced by a
// count hook.

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"

struct lua_State;

namespace keel::lua {

inline constexpr size_t kUnlimitedMemory = std::numeric_limits<size_t>::max();

// How a sandbox names itself in the errors it raises, so a script's author learns what to
// use instead.
struct SandboxWording {
  std::string context;      // "workflows": "math.random is not available in workflows: ..."
  std::string time_hint;    // instead of os
  std::string random_hint;  // instead of math.random / math.randomseed
  std::string stopped;      // raised when the interrupt flag is set
  // Appended to "instruction budget exceeded: N instructions" when the budget is spent.
  std::string budget_suffix;
};

// One sandboxed Lua state and its limits. Reachable from the state's extra space; a user of
// the sandbox derives from it to keep its own data next to the state.
struct Sandbox {
  size_t used = 0;
  size_t limit = kUnlimitedMemory;  // enforced only while Lua code runs (see SandboxScope)
  size_t max_memory = 0;
  int64_t instructions = 0;
  int64_t max_instructions = 0;
  const std::atomic<bool>* interrupt = nullptr;
  std::string lib_dir;  // where require looks; empty: nothing can be required
  std::function<void(const std::string&)> log;  // print() and host logging; may be empty
  std::string stopped_message;
  std::string over_budget_message;
  lua_State* L = nullptr;

  Sandbox() = default;
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;
  virtual ~Sandbox();
};

Sandbox* GetSandbox(lua_State* L);

// Creates `s.L` with the sandboxed libraries and the instruction hook. `s.max_memory`,
// `s.max_instructions` and `s.lib_dir` must be set before.
Status OpenSandbox(Sandbox& s, const SandboxWording& wording);

// Installs the instruction-budget hook on a thread of a sandboxed state (coroutines need
// their own).
void InstallBudgetHook(lua_State* thread);

// Our own C++ code that calls the Lua API outside a protected call must not hit the memory
// limit (an error there would abort the process), so the limit applies only while Lua runs;
// the instruction count starts afresh with every scope.
class SandboxScope {
 public:
  explicit SandboxScope(Sandbox& s) : s_(s) {
    s_.limit = s_.max_memory;
    s_.instructions = 0;
  }
  ~SandboxScope() { s_.limit = kUnlimitedMemory; }
  SandboxScope(const SandboxScope&) = delete;
  SandboxScope& operator=(const SandboxScope&) = delete;

 private:
  Sandbox& s_;
};

// The message of a failed protected call whose error object is on top of L's stack.
std::string LuaErrorText(lua_State* L, int status, const Sandbox& s);

// Compiles `source` (text only, never bytecode) as the chunk `file_name` and leaves it on
// s.L's stack; its bytecode, or kInvalidArgument with the syntax error.
Result<std::string> CompileScript(Sandbox& s, const std::string& file_name,
                                  std::string_view source);

// Runs the script chunk on top of the stack (its top level), which must return a function:
// leaves that function on the stack. kInvalidArgument naming `file_name` otherwise;
// `expected` says what it should have returned ("a function(args)").
Status RunTopLevel(Sandbox& s, const std::string& file_name, std::string_view expected);

// lua_dump writer appending to the std::string* passed as `ud`.
int DumpToString(lua_State* L, const void* p, size_t sz, void* ud);

}  // namespace keel::lua
