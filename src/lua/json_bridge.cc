#include "lua/json_bridge.h"

#include <lauxlib.h>
#include <lua.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <vector>

namespace keel::lua {

namespace json = boost::json;

namespace {

constexpr int kMaxDepth = 64;

Result<json::value> Convert(lua_State* L, int index, int depth);

Result<json::value> ConvertTable(lua_State* L, int index, int depth) {
  if (depth > kMaxDepth) {
    return Error{Errc::kScript, "value nested deeper than 64 levels (a cycle?)"};
  }
  index = lua_absindex(L, index);
  // Decide array vs object: an array has exactly the integer keys 1..n.
  lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, index));
  size_t count = 0;
  bool only_strings = true;
  lua_pushnil(L);
  while (lua_next(L, index) != 0) {
    ++count;
    if (lua_type(L, -2) != LUA_TSTRING) only_strings = false;
    lua_pop(L, 1);
  }
  if (count == 0) return json::value(json::object());
  if (n > 0 && static_cast<size_t>(n) == count) {
    json::array arr;
    arr.reserve(static_cast<size_t>(n));
    for (lua_Integer i = 1; i <= n; ++i) {
      lua_rawgeti(L, index, i);
      auto v = Convert(L, -1, depth + 1);
      lua_pop(L, 1);
      if (!v) return v.error();
      arr.push_back(std::move(*v));
    }
    return json::value(std::move(arr));
  }
  if (!only_strings) {
    return Error{Errc::kScript, "table mixes array and non-string keys; JSON has no such value"};
  }
  // Keys are emitted sorted: Lua's table order is seeded per state, and a journal should
  // read the same however many times the same value is written.
  std::vector<std::pair<std::string, json::value>> fields;
  fields.reserve(count);
  lua_pushnil(L);
  while (lua_next(L, index) != 0) {
    size_t len = 0;
    const char* key = lua_tolstring(L, -2, &len);
    auto v = Convert(L, -1, depth + 1);
    if (!v) {
      lua_pop(L, 2);
      return v.error();
    }
    fields.emplace_back(std::string(key, len), std::move(*v));
    lua_pop(L, 1);
  }
  std::sort(fields.begin(), fields.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  json::object obj;
  obj.reserve(fields.size());
  for (auto& [k, v] : fields) obj.emplace(k, std::move(v));
  return json::value(std::move(obj));
}

Result<json::value> Convert(lua_State* L, int index, int depth) {
  switch (lua_type(L, index)) {
    case LUA_TNIL:
    case LUA_TNONE:
      return json::value(nullptr);
    case LUA_TBOOLEAN:
      return json::value(lua_toboolean(L, index) != 0);
    case LUA_TNUMBER:
      if (lua_isinteger(L, index))
        return json::value(static_cast<int64_t>(lua_tointeger(L, index)));
      {
        double d = lua_tonumber(L, index);
        if (!std::isfinite(d)) return Error{Errc::kScript, "NaN and infinity are not JSON"};
        return json::value(d);
      }
    case LUA_TSTRING: {
      size_t len = 0;
      const char* s = lua_tolstring(L, index, &len);
      return json::value(json::string(s, len));
    }
    case LUA_TTABLE:
      return ConvertTable(L, index, depth);
    default:
      return Error{Errc::kScript,
                   std::string("a ") + luaL_typename(L, index) + " cannot be stored as JSON"};
  }
}

void Push(lua_State* L, const json::value& v) {
  luaL_checkstack(L, 4, "JSON value too deep");
  switch (v.kind()) {
    case json::kind::null:
      lua_pushnil(L);
      break;
    case json::kind::bool_:
      lua_pushboolean(L, v.get_bool());
      break;
    case json::kind::int64:
      lua_pushinteger(L, v.get_int64());
      break;
    case json::kind::uint64:
      lua_pushnumber(L, static_cast<double>(v.get_uint64()));
      break;
    case json::kind::double_:
      lua_pushnumber(L, v.get_double());
      break;
    case json::kind::string:
      lua_pushlstring(L, v.get_string().data(), v.get_string().size());
      break;
    case json::kind::array: {
      const auto& a = v.get_array();
      lua_createtable(L, static_cast<int>(a.size()), 0);
      for (size_t i = 0; i < a.size(); ++i) {
        Push(L, a[i]);
        lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
      }
      break;
    }
    case json::kind::object: {
      const auto& o = v.get_object();
      lua_createtable(L, 0, static_cast<int>(o.size()));
      for (const auto& kv : o) {
        lua_pushlstring(L, kv.key().data(), kv.key().size());
        Push(L, kv.value());
        lua_rawset(L, -3);
      }
      break;
    }
  }
}

}  // namespace

Result<std::string> ToJson(lua_State* L, int index) {
  auto v = Convert(L, index, 0);
  if (!v) return v.error();
  return json::serialize(*v);
}

Status PushJson(lua_State* L, std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return Error{Errc::kInternal, "stored JSON is invalid: " + ec.message()};
  Push(L, v);
  return OkStatus();
}

}  // namespace keel::lua
