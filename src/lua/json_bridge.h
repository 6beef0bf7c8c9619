#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

struct lua_State;

namespace keel::lua {

// Converts the Lua value at `index` to JSON text. Tables with keys 1..n become arrays, tables
// with string keys objects, an empty table `{}`. Functions, userdata, NaN/inf, mixed keys and
// cycles (depth > 64) are errors naming what was found.
Result<std::string> ToJson(lua_State* L, int index);

// Pushes the Lua value for JSON `text` (null → nil). Invalid text is an error and pushes nothing.
Status PushJson(lua_State* L, std::string_view text);

}  // namespace keel::lua
