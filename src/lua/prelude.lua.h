#pragma once

// The `ctx` object every workflow receives, written in Lua because most of it is argument
// checking. Each durable call yields (token, op, name, arg) to the engine through the private
// `yield` captured here, so a workflow's own coroutine.yield can never pose as a ctx call.
// docs/workflows.md documents this API.
namespace keel::lua {

inline constexpr const char* kPrelude = R"lua(
local yield, token, host_log, run_id, input = ...
local error, type, tostring, select, concat, pcall = error, type, tostring, select, table.concat, pcall
local in_step = false

local ctx = { run_id = run_id, input = input }

local function act(op, name, arg)
  if in_step then
    error("ctx." .. op .. " cannot be called inside a ctx.step function", 3)
  end
  local ok, a, b = yield(token, op, name, arg)
  if not ok then error(a, 3) end
  return a, b
end

local function check_name(fn, name)
  if type(name) ~= "string" or name == "" then
    error("ctx." .. fn .. ": name must be a non-empty string", 3)
  end
end

function ctx.step(name, fn)
  check_name("step", name)
  if type(fn) ~= "function" then error("ctx.step: second argument must be a function", 2) end
  local found, value = act("step", name)
  if found then return value end
  in_step = true
  local ok, result = pcall(fn)
  in_step = false
  if not ok then error(result, 0) end
  return (act("commit", name, result))
end

function ctx.sleep(duration)
  local t = type(duration)
  if t ~= "string" and t ~= "number" then
    error("ctx.sleep: duration must be a string such as \"250ms\", \"30s\", \"24h\" or milliseconds", 2)
  end
  act("sleep", "sleep", duration)
end

function ctx.now() return (act("now", "now")) end
function ctx.random() return (act("random", "random")) end
function ctx.uuid() return (act("uuid", "uuid")) end

function ctx.signal(name, opts)
  check_name("signal", name)
  -- The names the HTTP API can deliver (POST /v1/runs/{id}/signals/{name}).
  if #name > 128 or not name:match("^[%w_.:%-]+$") then
    error("ctx.signal: name may hold only letters, digits and _.:- (at most 128)", 2)
  end
  if opts ~= nil and type(opts) ~= "table" then error("ctx.signal: options must be a table", 2) end
  return act("signal", name, opts and opts.timeout)
end

function ctx.emit(event) act("emit", "emit", event) end
function ctx.interrupts() return (act("interrupts", "interrupts")) end

function ctx.log(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
  host_log(concat(parts, " "))
end

return ctx
)lua";

}  // namespace keel::lua
