#include "lua/workflow_vm.h"

#include <boost/json.hpp>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <cstring>

#include "lua/json_bridge.h"
#include "lua/prelude.lua.h"
#include "lua/sandbox.h"

namespace keel::lua {

// Everything a workflow's Lua state needs from us, reachable from its extra space.
struct WorkflowVm::State : Sandbox {
  std::shared_ptr<const CompiledWorkflow> code;
  lua_State* co = nullptr;
};

namespace {

using State = WorkflowVm::State;

const SandboxWording& WorkflowWording() {
  static const SandboxWording w{
      .context = "workflows",
      .time_hint = "use ctx.now() for time",
      .random_hint = "use ctx.random(), which replay repeats",
      .stopped = "run stopped by the engine (cancelled or past its deadline)",
      .budget_suffix = " without a durable ctx call (an endless loop?)",
  };
  return w;
}

// The prelude reports an uncaught Lua error (one with no undo steps to run) as the action
// fail("script_error", {message}); to the engine that is a script error like any other.
VmEvent ScriptErrorOf(VmEvent ev, const State& s) {
  if (ev.action.op != "fail" || ev.action.name != "script_error") return ev;
  boost::system::error_code ec;
  boost::json::value arg = boost::json::parse(ev.action.arg_json, ec);
  if (ec || !arg.is_object()) return ev;
  const boost::json::object& o = arg.as_object();
  auto* status = o.if_contains("status");
  if (status && !(status->is_string() && status->get_string() == "failed")) return ev;
  auto* message = o.if_contains("message");
  std::string text = message && message->is_string() ? std::string(message->get_string()) : "";
  // Lua's words for the sandbox's allocation limit (xpcall does not call its handler then).
  if (text.rfind("not enough memory", 0) == 0) {
    text = "memory limit of " + std::to_string(s.max_memory >> 20) + " MiB exceeded";
  }
  VmEvent err;
  err.kind = VmEvent::Kind::kError;
  err.error = Error{Errc::kScript, std::move(text)};
  return err;
}

// traceback(message): the message with the stack of the error, for the prelude's xpcall
// handlers (the sandbox has no debug library).
int HostTraceback(lua_State* L) {
  const char* msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 2);
  return 1;
}

int HostLog(lua_State* L) {
  Sandbox* s = GetSandbox(L);
  if (s->log) s->log(luaL_checkstring(L, 1));
  return 0;
}

Result<std::unique_ptr<State>> NewState(const VmLimits& limits) {
  auto s = std::make_unique<State>();
  s->max_memory = limits.max_memory_bytes;
  s->max_instructions = limits.max_instructions_per_slice;
  s->lib_dir = limits.lib_dir;
  if (Status st = OpenSandbox(*s, WorkflowWording()); !st) return st.error();
  return s;
}

// The ctx prelude compiled once per process: parsing it on every activation cost about a
// sixth of the executor's time in W1 (docs/PERFORMANCE.md).
const std::string& PreludeBytecode() {
  static const std::string bytecode = [] {
    std::string out;
    lua_State* L = luaL_newstate();
    if (luaL_loadbufferx(L, kPrelude, std::strlen(kPrelude), "=ctx", "t") == LUA_OK) {
      lua_dump(L, DumpToString, &out, 0);
    }
    lua_close(L);
    return out;
  }();
  return bytecode;
}

}  // namespace

Result<std::shared_ptr<const CompiledWorkflow>> CompileWorkflow(const std::string& intent,
                                                                const std::string& file_name,
                                                                const std::string& source,
                                                                const VmLimits& limits) {
  auto st = NewState(limits);
  if (!st) return st.error();
  State& s = **st;
  auto bytecode = CompileScript(s, file_name, source);
  if (!bytecode) return bytecode.error();
  auto compiled = std::make_shared<CompiledWorkflow>();
  compiled->intent = intent;
  compiled->chunk_name = "@" + file_name;
  compiled->bytecode = std::move(*bytecode);
  if (Status top = RunTopLevel(s, file_name, "a function(ctx, input)"); !top) return top.error();
  return std::shared_ptr<const CompiledWorkflow>(std::move(compiled));
}

Result<std::unique_ptr<WorkflowVm>> WorkflowVm::Create(std::shared_ptr<const CompiledWorkflow> code,
                                                       const std::string& run_id,
                                                       const std::string& input_json,
                                                       const VmLimits& limits, LogFn log) {
  auto st = NewState(limits);
  if (!st) return st.error();
  std::unique_ptr<WorkflowVm> vm(new WorkflowVm());
  vm->state_ = std::move(*st);
  State& s = *vm->state_;
  s.interrupt = vm->interrupt_.get();
  s.log = std::move(log);
  s.code = std::move(code);
  lua_State* L = s.L;

  // The workflow function: run the checked chunk's top level again in this state.
  if (luaL_loadbufferx(L, s.code->bytecode.data(), s.code->bytecode.size(),
                       s.code->chunk_name.c_str(), "b") != LUA_OK) {
    return Error{Errc::kInternal,
                 "cannot load compiled workflow: " + LuaErrorText(L, LUA_ERRSYNTAX, s)};
  }
  int status;
  {
    SandboxScope scope(s);
    status = lua_pcall(L, 0, 1, 0);
  }
  if (status != LUA_OK || !lua_isfunction(L, -1)) {
    return Error{Errc::kScript, "workflow top level failed: " + LuaErrorText(L, status, s)};
  }
  int workflow_fn = lua_gettop(L);

  // ctx, from the prelude.
  const std::string& prelude = PreludeBytecode();
  if (luaL_loadbufferx(L, prelude.data(), prelude.size(), "=ctx", "b") != LUA_OK) {
    return Error{Errc::kInternal,
                 "ctx prelude does not compile: " + LuaErrorText(L, LUA_ERRSYNTAX, s)};
  }
  lua_getglobal(L, LUA_COLIBNAME);
  lua_getfield(L, -1, "yield");
  lua_remove(L, -2);
  lua_pushlightuserdata(L, &s);
  lua_pushcfunction(L, HostLog);
  lua_pushlstring(L, run_id.data(), run_id.size());
  if (Status ok = PushJson(L, input_json); !ok) {
    return Error{Errc::kInvalidArgument, "run input is not valid JSON"};
  }
  int input_index = lua_gettop(L);
  lua_pushvalue(L, input_index);
  lua_insert(L, workflow_fn + 1);  // keep a copy of input below the prelude call
  lua_pushcfunction(L, HostTraceback);
  if (lua_pcall(L, 6, 2, 0) != LUA_OK) {
    return Error{Errc::kInternal, "ctx prelude failed: " + LuaErrorText(L, LUA_ERRRUN, s)};
  }
  // Stack: workflow_fn, input, ctx, main → coroutine stack: main, fn, input. `main` calls
  // fn(ctx, input) and turns an uncaught error into the run's end (after undo steps).
  s.co = lua_newthread(L);
  lua_setfield(L, LUA_REGISTRYINDEX, "keel.co");
  InstallBudgetHook(s.co);
  lua_pushvalue(L, -1);               // main
  lua_pushvalue(L, workflow_fn);      // fn
  lua_pushvalue(L, workflow_fn + 1);  // input
  lua_xmove(L, s.co, 3);
  lua_settop(L, 0);
  return vm;
}

WorkflowVm::~WorkflowVm() = default;

size_t WorkflowVm::memory_bytes() const { return state_->used; }

VmEvent WorkflowVm::Start() { return Drive(2); }

VmEvent WorkflowVm::Resume(bool ok, const std::vector<std::string>& values) {
  lua_State* co = state_->co;
  lua_settop(co, 0);
  lua_pushboolean(co, ok);
  for (const auto& v : values) {
    if (Status st = PushJson(co, v); !st) {
      VmEvent e;
      e.kind = VmEvent::Kind::kError;
      e.error = Error{Errc::kInternal, "cannot resume workflow: " + st.error().message};
      return e;
    }
  }
  return Drive(1 + static_cast<int>(values.size()));
}

VmEvent WorkflowVm::Drive(int nargs) {
  State& s = *state_;
  lua_State* co = s.co;
  VmEvent ev;
  int nres = 0;
  int status;
  {
    SandboxScope scope(s);
    status = lua_resume(co, s.L, nargs, &nres);
  }
  if (status == LUA_YIELD) {
    int base = lua_gettop(co) - nres + 1;
    if (nres < 2 || lua_touserdata(co, base) != &s || !lua_isstring(co, base + 1)) {
      ev.kind = VmEvent::Kind::kError;
      ev.error = Error{Errc::kScript,
                       "the workflow yielded outside a ctx call (coroutine.yield at the top of "
                       "a workflow is not supported; call ctx functions instead)"};
      return ev;
    }
    ev.kind = VmEvent::Kind::kAction;
    ev.action.op = lua_tostring(co, base + 1);
    if (nres >= 3 && lua_isstring(co, base + 2)) ev.action.name = lua_tostring(co, base + 2);
    ev.action.arg_json = "null";
    if (nres >= 4) {
      auto arg = ToJson(co, base + 3);
      if (!arg) {
        ev.kind = VmEvent::Kind::kError;
        ev.error = Error{Errc::kScript,
                         "ctx." + (ev.action.op == "commit" ? std::string("step") : ev.action.op) +
                             "(\"" + ev.action.name + "\"): " + arg.error().message};
        return ev;
      }
      ev.action.arg_json = std::move(*arg);
    }
    lua_settop(co, 0);
    return ScriptErrorOf(std::move(ev), s);
  }
  if (status == LUA_OK) {
    auto result = nres >= 1 ? ToJson(co, lua_gettop(co) - nres + 1) : Result<std::string>("null");
    if (!result) {
      ev.kind = VmEvent::Kind::kError;
      ev.error = Error{Errc::kScript, "the workflow's return value: " + result.error().message};
      return ev;
    }
    ev.kind = VmEvent::Kind::kDone;
    ev.result_json = std::move(*result);
    return ev;
  }
  std::string msg = LuaErrorText(co, status, s);
  if (status != LUA_ERRMEM) {
    luaL_traceback(s.L, co, msg.c_str(), 0);
    msg = lua_tostring(s.L, -1);
    lua_pop(s.L, 1);
  }
  ev.kind = VmEvent::Kind::kError;
  ev.error = Error{Errc::kScript, msg};
  return ev;
}

}  // namespace keel::lua
