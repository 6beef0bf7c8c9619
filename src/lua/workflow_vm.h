#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"

struct lua_State;

namespace keel::lua {

struct VmLimits {
  size_t max_memory_bytes = 64 << 20;
  // Lua instructions a run may execute between two durable actions; a loop that never
  // reaches a ctx call is stopped with a clear error instead of holding an executor.
  int64_t max_instructions_per_slice = 200'000'000;
  std::string lib_dir;  // where `require` looks (Keel's own Lua library); empty: no require
};

// Workflow code checked and compiled once; shared by every VM that runs it. Immutable.
struct CompiledWorkflow {
  std::string intent;
  std::string code_hash;
  std::string chunk_name;  // "@examples/hello.lua", for error messages
  std::string bytecode;    // produced by us from checked source, never accepted from users
};

// Parses `source`, runs its top level in a sandbox and checks it returns a function.
// Errors carry "file:line: message".
Result<std::shared_ptr<const CompiledWorkflow>> CompileWorkflow(const std::string& intent,
                                                                const std::string& file_name,
                                                                const std::string& source,
                                                                const VmLimits& limits);

// What a workflow asked the engine for: `ctx.<op>(name, arg)`.
struct Action {
  std::string op;  // step, commit, sleep, now, random, uuid, signal, emit, interrupts
  std::string name;
  std::string arg_json;  // JSON of the argument (commit: the step's value), "null" if none
};

struct VmEvent {
  enum class Kind { kAction, kDone, kError } kind = Kind::kError;
  Action action;            // kAction
  std::string result_json;  // kDone
  Error error;              // kError: kScript (a Lua error or a limit, with traceback)
};

// One workflow execution inside its own sandboxed Lua state: the workflow function runs in a
// coroutine, and every ctx call yields an Action to the engine, which answers with Resume().
// The VM knows nothing about journals; replay is the engine's business.
//
// Not thread-safe: owned and used by one executor thread. `interrupt` may be set from any
// thread to stop the script at its next instruction-count check (cancel, deadline).
class WorkflowVm {
 public:
  using LogFn = std::function<void(const std::string& message)>;

  static Result<std::unique_ptr<WorkflowVm>> Create(std::shared_ptr<const CompiledWorkflow> code,
                                                    const std::string& run_id,
                                                    const std::string& input_json,
                                                    const VmLimits& limits, LogFn log);
  ~WorkflowVm();

  // Starts the workflow function; returns its first action, its result or its error.
  VmEvent Start();
  // Answers the pending action: with ok, `values` (JSON texts) are what the ctx call
  // returns; without ok, values[0] is a message raised as a Lua error at the call site.
  VmEvent Resume(bool ok, const std::vector<std::string>& values);

  size_t memory_bytes() const;
  std::atomic<bool>& interrupt_flag() { return *interrupt_; }
  // The same flag, for a thread that may outlive this VM (cancel, deadline timers).
  std::shared_ptr<std::atomic<bool>> interrupt_handle() const { return interrupt_; }

  struct State;  // the Lua state and its limits; defined in workflow_vm.cc

 private:
  WorkflowVm() = default;
  VmEvent Drive(int nargs);

  std::unique_ptr<State> state_;
  std::shared_ptr<std::atomic<bool>> interrupt_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace keel::lua
