#include "lua/workflow_vm.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "lua/json_bridge.h"
#include "lua/prelude.lua.h"

namespace keel::lua {

namespace {
constexpr int kHookEvery = 10'000;  // instructions between budget checks
constexpr size_t kUnlimited = std::numeric_limits<size_t>::max();
}  // namespace

// Everything a Lua state needs from us, reachable from its extra space.
struct WorkflowVm::State {
  size_t used = 0;
  size_t limit = kUnlimited;  // enforced only while Lua code runs (see HostScope)
  size_t max_memory = 0;
  int64_t instructions = 0;
  int64_t max_instructions = 0;
  std::atomic<bool>* interrupt = nullptr;
  std::string lib_dir;
  LogFn log;
  std::shared_ptr<const CompiledWorkflow> code;
  lua_State* L = nullptr;
  lua_State* co = nullptr;

  ~State() {
    if (L) lua_close(L);
  }
};

namespace {

using State = WorkflowVm::State;

State* GetState(lua_State* L) { return *static_cast<State**>(lua_getextraspace(L)); }

// The allocator enforces the per-run memory limit.
void* Alloc(void* ud, void* ptr, size_t osize, size_t nsize) {
  auto* s = static_cast<State*>(ud);
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    std::free(ptr);
    s->used -= old;
    return nullptr;
  }
  if (nsize > old && s->used + (nsize - old) > s->limit) return nullptr;
  void* p = std::realloc(ptr, nsize);
  if (!p) return nullptr;
  s->used = s->used - old + nsize;
  return p;
}

// Our own C++ code that calls the Lua API outside a protected call must not hit the memory
// limit (an error there would abort the process), so the limit applies only while Lua runs.
class LuaScope {
 public:
  explicit LuaScope(State* s) : s_(s) {
    s_->limit = s_->max_memory;
    s_->instructions = 0;
  }
  ~LuaScope() { s_->limit = kUnlimited; }

 private:
  State* s_;
};

void Hook(lua_State* L, lua_Debug*) {
  State* s = GetState(L);
  s->instructions += kHookEvery;
  if (s->interrupt && s->interrupt->load(std::memory_order_relaxed)) {
    luaL_error(L, "run stopped by the engine (cancelled or past its deadline)");
  }
  if (s->instructions > s->max_instructions) {
    luaL_error(L,
               "instruction budget exceeded: %I instructions without a durable ctx call "
               "(an endless loop?)",
               static_cast<lua_Integer>(s->max_instructions));
  }
}

int Forbidden(lua_State* L) {
  return luaL_error(L, "%s is not available in workflows: %s", lua_tostring(L, lua_upvalueindex(1)),
                    lua_tostring(L, lua_upvalueindex(2)));
}

void Forbid(lua_State* L, int table, const char* field, const char* name, const char* hint) {
  lua_pushstring(L, name);
  lua_pushstring(L, hint);
  lua_pushcclosure(L, Forbidden, 2);
  lua_setfield(L, table, field);
}

// load() restricted to text chunks: bytecode can crash the VM, so it is never accepted.
int SandboxLoad(lua_State* L) {
  size_t len = 0;
  const char* chunk = luaL_checklstring(L, 1, &len);
  const char* name = luaL_optstring(L, 2, "=(load)");
  int has_env = !lua_isnone(L, 4);
  int status = luaL_loadbufferx(L, chunk, len, name, "t");
  if (status != LUA_OK) {
    luaL_pushfail(L);
    lua_insert(L, -2);
    return 2;
  }
  if (has_env) {
    lua_pushvalue(L, 4);
    if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
  }
  return 1;
}

bool ValidModuleName(const char* name) {
  if (!*name) return false;
  for (const char* p = name; *p; ++p) {
    if (!(std::isalnum(static_cast<unsigned char>(*p)) || *p == '_' || *p == '.')) return false;
  }
  return std::strstr(name, "..") == nullptr && name[0] != '.';
}

// require(name) loads lib_dir/<name with dots as slashes>.lua and nothing else.
int SandboxRequire(lua_State* L) {
  const char* name = luaL_checkstring(L, 1);
  State* s = GetState(L);
  lua_getfield(L, LUA_REGISTRYINDEX, "keel.loaded");
  if (lua_getfield(L, -1, name) != LUA_TNIL) return 1;
  lua_pop(L, 1);
  if (s->lib_dir.empty() || !ValidModuleName(name)) {
    return luaL_error(L, "module '%s' not found: require loads only Keel's library modules", name);
  }
  std::string rel = name;
  for (char& c : rel)
    if (c == '.') c = '/';
  std::string path = s->lib_dir + "/" + rel + ".lua";
  std::ifstream in(path, std::ios::binary);
  if (!in) return luaL_error(L, "module '%s' not found in %s", name, s->lib_dir.c_str());
  std::stringstream buf;
  buf << in.rdbuf();
  std::string src = buf.str();
  std::string chunk_name = "@" + path;
  if (luaL_loadbufferx(L, src.data(), src.size(), chunk_name.c_str(), "t") != LUA_OK) {
    return lua_error(L);
  }
  lua_pushstring(L, name);
  lua_call(L, 1, 1);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, name);
  return 1;
}

int HostLog(lua_State* L) {
  State* s = GetState(L);
  if (s->log) s->log(luaL_checkstring(L, 1));
  return 0;
}

int Print(lua_State* L) {
  std::string line;
  int n = lua_gettop(L);
  for (int i = 1; i <= n; ++i) {
    if (i > 1) line += "\t";
    line += luaL_tolstring(L, i, nullptr);
    lua_pop(L, 1);
  }
  State* s = GetState(L);
  if (s->log) s->log(line);
  return 0;
}

// Opens the safe standard libraries and removes or fences everything that reaches outside
// the sandbox or breaks determinism.
void OpenSandbox(lua_State* L) {
  const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},        {LUA_TABLIBNAME, luaopen_table},
                           {LUA_STRLIBNAME, luaopen_string}, {LUA_MATHLIBNAME, luaopen_math},
                           {LUA_UTF8LIBNAME, luaopen_utf8},  {LUA_COLIBNAME, luaopen_coroutine}};
  for (const auto& lib : libs) {
    luaL_requiref(L, lib.name, lib.func, 1);
    lua_pop(L, 1);
  }
  lua_pushglobaltable(L);
  int g = lua_gettop(L);
  for (const char* name : {"dofile", "loadfile", "collectgarbage"}) {
    lua_pushnil(L);
    lua_setfield(L, g, name);
  }
  lua_pushcfunction(L, SandboxLoad);
  lua_setfield(L, g, "load");
  lua_pushcfunction(L, SandboxRequire);
  lua_setfield(L, g, "require");
  lua_pushcfunction(L, Print);
  lua_setfield(L, g, "print");
  Forbid(L, g, "os", "os", "use ctx.now() for time");
  lua_pushnil(L);
  lua_setfield(L, g, "os");
  lua_getfield(L, g, LUA_MATHLIBNAME);
  Forbid(L, lua_gettop(L), "random", "math.random", "use ctx.random(), which replay repeats");
  Forbid(L, lua_gettop(L), "randomseed", "math.randomseed", "use ctx.random()");
  lua_pop(L, 1);
  lua_getfield(L, g, LUA_STRLIBNAME);
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  lua_pop(L, 1);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, "keel.loaded");
  lua_pop(L, 1);
}

Result<std::unique_ptr<State>> NewState(const VmLimits& limits) {
  auto s = std::make_unique<State>();
  s->max_memory = limits.max_memory_bytes;
  s->max_instructions = limits.max_instructions_per_slice;
  s->lib_dir = limits.lib_dir;
  s->L = lua_newstate(Alloc, s.get());
  if (!s->L) return Error{Errc::kInternal, "cannot create a Lua state"};
  *static_cast<State**>(lua_getextraspace(s->L)) = s.get();
  OpenSandbox(s->L);
  lua_sethook(s->L, Hook, LUA_MASKCOUNT, kHookEvery);
  return s;
}

std::string ErrorText(lua_State* L, int status, const State& s) {
  if (status == LUA_ERRMEM) {
    return "memory limit of " + std::to_string(s.max_memory >> 20) + " MiB exceeded";
  }
  const char* msg = lua_tostring(L, -1);
  return msg ? msg : "error object is not a string";
}

int DumpWriter(lua_State*, const void* p, size_t sz, void* ud) {
  static_cast<std::string*>(ud)->append(static_cast<const char*>(p), sz);
  return 0;
}

// The ctx prelude compiled once per process: parsing it on every activation cost about a
// sixth of the executor's time in W1 (docs/PERFORMANCE.md).
const std::string& PreludeBytecode() {
  static const std::string bytecode = [] {
    std::string out;
    lua_State* L = luaL_newstate();
    if (luaL_loadbufferx(L, kPrelude, std::strlen(kPrelude), "=ctx", "t") == LUA_OK) {
      lua_dump(L, DumpWriter, &out, 0);
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
  lua_State* L = s.L;
  std::string chunk_name = "@" + file_name;
  if (luaL_loadbufferx(L, source.data(), source.size(), chunk_name.c_str(), "t") != LUA_OK) {
    return Error{Errc::kInvalidArgument, ErrorText(L, LUA_ERRSYNTAX, s)};
  }
  auto compiled = std::make_shared<CompiledWorkflow>();
  compiled->intent = intent;
  compiled->chunk_name = chunk_name;
  lua_dump(L, DumpWriter, &compiled->bytecode, 0);
  int status;
  {
    LuaScope scope(&s);
    status = lua_pcall(L, 0, 1, 0);
  }
  if (status != LUA_OK) {
    return Error{Errc::kInvalidArgument,
                 file_name + ": top level failed: " + ErrorText(L, status, s)};
  }
  if (!lua_isfunction(L, -1)) {
    return Error{
        Errc::kInvalidArgument,
        file_name + ": must return a function(ctx, input), returned a " + luaL_typename(L, -1)};
  }
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
                 "cannot load compiled workflow: " + ErrorText(L, LUA_ERRSYNTAX, s)};
  }
  int status;
  {
    LuaScope scope(&s);
    status = lua_pcall(L, 0, 1, 0);
  }
  if (status != LUA_OK || !lua_isfunction(L, -1)) {
    return Error{Errc::kScript, "workflow top level failed: " + ErrorText(L, status, s)};
  }
  int workflow_fn = lua_gettop(L);

  // ctx, from the prelude.
  const std::string& prelude = PreludeBytecode();
  if (luaL_loadbufferx(L, prelude.data(), prelude.size(), "=ctx", "b") != LUA_OK) {
    return Error{Errc::kInternal,
                 "ctx prelude does not compile: " + ErrorText(L, LUA_ERRSYNTAX, s)};
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
  if (lua_pcall(L, 5, 1, 0) != LUA_OK) {
    return Error{Errc::kInternal, "ctx prelude failed: " + ErrorText(L, LUA_ERRRUN, s)};
  }
  // Stack: workflow_fn, input, ctx → coroutine stack: fn, ctx, input.
  s.co = lua_newthread(L);
  lua_setfield(L, LUA_REGISTRYINDEX, "keel.co");
  lua_sethook(s.co, Hook, LUA_MASKCOUNT, kHookEvery);
  lua_pushvalue(L, workflow_fn);
  lua_pushvalue(L, -2);               // ctx
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
    LuaScope scope(&s);
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
    return ev;
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
  std::string msg = ErrorText(co, status, s);
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
