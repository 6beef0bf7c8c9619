#include "lua/pure_function.h"

#include <lauxlib.h>
#include <lua.h>

#include <fstream>
#include <sstream>

#include "lua/json_bridge.h"
#include "lua/sandbox.h"

namespace keel::lua {

namespace {

const SandboxWording& ToolWording() {
  static const SandboxWording w{
      .context = "Lua tools",
      .time_hint = "a tool is a pure function of its arguments; pass the time in them",
      .random_hint = "a tool is a pure function of its arguments; pass a seed in them",
      .stopped = "Lua tool stopped (cancelled or out of time)",
      .budget_suffix = " (an endless loop?)",
  };
  return w;
}

constexpr std::string_view kReturns = "a function(args)";

Result<std::unique_ptr<Sandbox>> NewSandbox(const PureLimits& limits) {
  auto s = std::make_unique<Sandbox>();
  s->max_memory = limits.max_memory_bytes;
  s->max_instructions = limits.max_instructions;
  if (Status st = OpenSandbox(*s, ToolWording()); !st) return st.error();
  return s;
}

}  // namespace

Result<std::shared_ptr<const PureFunction>> CompilePureFunction(const std::string& file_name,
                                                                const std::string& source,
                                                                const PureLimits& limits) {
  auto sb = NewSandbox(limits);
  if (!sb) return sb.error();
  Sandbox& s = **sb;
  auto bytecode = CompileScript(s, file_name, source);
  if (!bytecode) return bytecode.error();
  auto fn = std::make_shared<PureFunction>();
  fn->file_name = file_name;
  fn->chunk_name = "@" + file_name;
  fn->bytecode = std::move(*bytecode);
  if (Status st = RunTopLevel(s, file_name, kReturns); !st) return st.error();
  return std::shared_ptr<const PureFunction>(std::move(fn));
}

Result<std::shared_ptr<const PureFunction>> LoadPureFunction(const std::string& path,
                                                             const PureLimits& limits) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{Errc::kNotFound, "cannot read Lua file " + path};
  std::stringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return Error{Errc::kNotFound, "cannot read Lua file " + path};
  return CompilePureFunction(path, buf.str(), limits);
}

Result<std::string> RunPureFunction(const PureFunction& fn, std::string_view args_json,
                                    const PureLimits& limits, const std::atomic<bool>* interrupt,
                                    const std::function<void(const std::string&)>& log) {
  auto sb = NewSandbox(limits);
  if (!sb) return sb.error();
  Sandbox& s = **sb;
  s.interrupt = interrupt;
  s.log = log;
  lua_State* L = s.L;
  if (luaL_loadbufferx(L, fn.bytecode.data(), fn.bytecode.size(), fn.chunk_name.c_str(), "b") !=
      LUA_OK) {
    return Error{Errc::kInternal,
                 "cannot load compiled " + fn.file_name + ": " + LuaErrorText(L, LUA_ERRSYNTAX, s)};
  }
  if (Status st = RunTopLevel(s, fn.file_name, kReturns); !st) {
    return Error{Errc::kScript, st.error().message};
  }
  if (Status st = PushJson(L, args_json); !st) {
    return Error{Errc::kInvalidArgument, "arguments are not valid JSON: " + st.error().message};
  }
  int status;
  {
    SandboxScope scope(s);
    status = lua_pcall(L, 1, 1, 0);
  }
  if (status != LUA_OK) {
    // Lua errors carry "file:line:"; the limits (raised from the allocator or the hook, and
    // error(msg, 0)) carry no position, so they get the file at least.
    std::string msg = LuaErrorText(L, status, s);
    if (msg.rfind(fn.file_name + ":", 0) != 0) msg = fn.file_name + ": " + msg;
    return Error{Errc::kScript, std::move(msg)};
  }
  auto result = ToJson(L, -1);
  if (!result) {
    return Error{Errc::kScript, fn.file_name + ": the return value: " + result.error().message};
  }
  return result;
}

}  // namespace keel::lua
