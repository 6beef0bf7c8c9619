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

-- Model and tool calls go through the gateway (retries, breakers, fallback, budgets) and are
-- journaled with what was sent and received. A call that fails for good ends the run as
-- failed with the gateway's error code (spend_limit, tool_error, ...), unless it asks for
-- on_error = "return": then it returns nil and {code = ..., message = ...}.
local function check_on_error(fn, v)
  if v ~= nil and v ~= "raise" and v ~= "return" then
    error("ctx." .. fn .. ": on_error must be \"raise\" or \"return\"", 3)
  end
end

function ctx.llm(req)
  if type(req) ~= "table" then
    error("ctx.llm: argument must be a table such as {model = \"default\", messages = {...}}", 2)
  end
  if type(req.messages) ~= "table" then error("ctx.llm: messages must be a list", 2) end
  if req.model ~= nil and type(req.model) ~= "string" then
    error("ctx.llm: model must be a model or chain name", 2)
  end
  check_on_error("llm", req.on_error)
  local body = {}
  for k, v in pairs(req) do
    if k ~= "model" and k ~= "on_error" and k ~= "stream" and k ~= "degrade" then body[k] = v end
  end
  return act("llm", req.model or "", {request = body, on_error = req.on_error,
                                       stream = req.stream, degrade = req.degrade})
end

function ctx.tool(name, args, opts)
  check_name("tool", name)
  if args ~= nil and type(args) ~= "table" then error("ctx.tool: arguments must be a table", 2) end
  if opts ~= nil and type(opts) ~= "table" then error("ctx.tool: options must be a table", 2) end
  check_on_error("tool", opts and opts.on_error)
  return act("tool", name, {args = args or {}, on_error = opts and opts.on_error})
end

-- Several tool calls at once (they run in parallel); returns a list of {result = ...} or
-- {error = {code, message}}, in call order. Never raises for a tool's failure.
function ctx.tools(calls)
  if type(calls) ~= "table" or #calls == 0 then
    error("ctx.tools: argument must be a non-empty list of {name = ..., args = {...}}", 2)
  end
  local list = {}
  for i, c in ipairs(calls) do
    if type(c) ~= "table" or type(c.name) ~= "string" or c.name == "" then
      error("ctx.tools: call " .. i .. " needs a name", 2)
    end
    list[i] = {name = c.name, args = c.args or {}}
  end
  return (act("tools", "tools", {calls = list}))
end

-- What the run has used of its budget: {used = {...}, limits = {...}, used_share = 0..1}.
function ctx.budget() return (act("budget", "budget")) end

-- An agent's spec, fixed in the journal at first use so a resumed run keeps it.
function ctx.agent_spec(name)
  check_name("agent_spec", name)
  return (act("config", "agent:" .. name))
end

-- Runs an agent (lib/keel/agent.lua) inside this run: its calls share this run's journal
-- and budget.
function ctx.agent(name, input)
  check_name("agent", name)
  return require("keel.agent").run(ctx, name, input)
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
