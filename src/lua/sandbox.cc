#include "lua/sandbox.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace keel::lua {

namespace {

constexpr int kHookEvery = 10'000;  // instructions between budget checks

// The allocator enforces the memory limit.
void* Alloc(void* ud, void* ptr, size_t osize, size_t nsize) {
  auto* s = static_cast<Sandbox*>(ud);
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

void Hook(lua_State* L, lua_Debug*) {
  Sandbox* s = GetSandbox(L);
  s->instructions += kHookEvery;
  if (s->interrupt && s->interrupt->load(std::memory_order_relaxed)) {
    luaL_error(L, "%s", s->stopped_message.c_str());
  }
  if (s->instructions > s->max_instructions) {
    luaL_error(L, "%s", s->over_budget_message.c_str());
  }
}

int Forbidden(lua_State* L) { return luaL_error(L, "%s", lua_tostring(L, lua_upvalueindex(1))); }

void Forbid(lua_State* L, int table, const char* field, const std::string& message) {
  lua_pushlstring(L, message.data(), message.size());
  lua_pushcclosure(L, Forbidden, 1);
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
  Sandbox* s = GetSandbox(L);
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

int Print(lua_State* L) {
  std::string line;
  int n = lua_gettop(L);
  for (int i = 1; i <= n; ++i) {
    if (i > 1) line += "\t";
    line += luaL_tolstring(L, i, nullptr);
    lua_pop(L, 1);
  }
  Sandbox* s = GetSandbox(L);
  if (s->log) s->log(line);
  return 0;
}

// Opens the safe standard libraries and removes or fences everything that reaches outside
// the sandbox or breaks determinism.
void OpenLibraries(lua_State* L, const SandboxWording& w) {
  const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},        {LUA_TABLIBNAME, luaopen_table},
                           {LUA_STRLIBNAME, luaopen_string}, {LUA_MATHLIBNAME, luaopen_math},
                           {LUA_UTF8LIBNAME, luaopen_utf8},  {LUA_COLIBNAME, luaopen_coroutine}};
  for (const auto& lib : libs) {
    luaL_requiref(L, lib.name, lib.func, 1);
    lua_pop(L, 1);
  }
  auto not_available = [&](const char* name, const std::string& hint) {
    return std::string(name) + " is not available in " + w.context + ": " + hint;
  };
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
  Forbid(L, g, "os", not_available("os", w.time_hint));
  lua_pushnil(L);
  lua_setfield(L, g, "os");
  lua_getfield(L, g, LUA_MATHLIBNAME);
  Forbid(L, lua_gettop(L), "random", not_available("math.random", w.random_hint));
  Forbid(L, lua_gettop(L), "randomseed", not_available("math.randomseed", w.random_hint));
  lua_pop(L, 1);
  lua_getfield(L, g, LUA_STRLIBNAME);
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  lua_pop(L, 1);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, "keel.loaded");
  lua_pop(L, 1);
}

}  // namespace

Sandbox::~Sandbox() {
  if (L) lua_close(L);
}

Sandbox* GetSandbox(lua_State* L) { return *static_cast<Sandbox**>(lua_getextraspace(L)); }

Status OpenSandbox(Sandbox& s, const SandboxWording& wording) {
  s.stopped_message = wording.stopped;
  s.over_budget_message = "instruction budget exceeded: " + std::to_string(s.max_instructions) +
                          " instructions" + wording.budget_suffix;
  s.L = lua_newstate(Alloc, &s);
  if (!s.L) return Error{Errc::kInternal, "cannot create a Lua state"};
  *static_cast<Sandbox**>(lua_getextraspace(s.L)) = &s;
  OpenLibraries(s.L, wording);
  InstallBudgetHook(s.L);
  return OkStatus();
}

void InstallBudgetHook(lua_State* thread) { lua_sethook(thread, Hook, LUA_MASKCOUNT, kHookEvery); }

std::string LuaErrorText(lua_State* L, int status, const Sandbox& s) {
  if (status == LUA_ERRMEM) {
    return "memory limit of " + std::to_string(s.max_memory >> 20) + " MiB exceeded";
  }
  const char* msg = lua_tostring(L, -1);
  return msg ? msg : "error object is not a string";
}

Result<std::string> CompileScript(Sandbox& s, const std::string& file_name,
                                  std::string_view source) {
  std::string chunk_name = "@" + file_name;
  if (luaL_loadbufferx(s.L, source.data(), source.size(), chunk_name.c_str(), "t") != LUA_OK) {
    return Error{Errc::kInvalidArgument, LuaErrorText(s.L, LUA_ERRSYNTAX, s)};
  }
  std::string bytecode;
  lua_dump(s.L, DumpToString, &bytecode, 0);
  return bytecode;
}

Status RunTopLevel(Sandbox& s, const std::string& file_name, std::string_view expected) {
  lua_State* L = s.L;
  int status;
  {
    SandboxScope scope(s);
    status = lua_pcall(L, 0, 1, 0);
  }
  if (status != LUA_OK) {
    return Error{Errc::kInvalidArgument,
                 file_name + ": top level failed: " + LuaErrorText(L, status, s)};
  }
  if (!lua_isfunction(L, -1)) {
    return Error{Errc::kInvalidArgument, file_name + ": must return " + std::string(expected) +
                                             ", returned a " + luaL_typename(L, -1)};
  }
  return OkStatus();
}

int DumpToString(lua_State*, const void* p, size_t sz, void* ud) {
  static_cast<std::string*>(ud)->append(static_cast<const char*>(p), sz);
  return 0;
}

}  // namespace keel::lua
