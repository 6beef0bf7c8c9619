#pragma once

// The `ctx` object every workflow receives, written in Lua because most of it is argument
// checking. Each durable call yields (token, op, name, arg) to the engine through the private
// `yield` captured here, so a workflow's own coroutine.yield can never pose as a ctx call.
// docs/workflows.md documents this API.
namespace keel::lua {

inline constexpr const char* kPrelude = R"lua(
local yield, token, host_log, run_id, input, traceback = ...
local error, type, tostring, select, concat, pcall = error, type, tostring, select, table.concat, pcall
local xpcall, setmetatable, getmetatable, ipairs = xpcall, setmetatable, getmetatable, ipairs
local co_create, co_resume, co_status = coroutine.create, coroutine.resume, coroutine.status
local pack, unpack, sort = table.pack, table.unpack, table.sort
local in_step = false

local ctx = { run_id = run_id, input = input }

-- Errors of ctx calls are tables {code = ..., message = ...}: a workflow can pcall a call and
-- look at err.code; tostring(err) gives "code: message".
local err_mt = {__tostring = function(e) return tostring(e.code) .. ": " .. tostring(e.message) end}
-- A workflow may raise its own {code = ..., message = ...} table the same way.
local function is_ctx_error(e)
  return type(e) == "table" and (getmetatable(e) == err_mt or type(e.code) == "string")
end

-- The parallel branch whose code runs now ("" for the main line), and how many ctx.parallel
-- calls each branch has started (branch tags must be the same on every replay).
local cur_tag = ""
local par_count = {}

-- Undo steps (sagas), most recent last.
local compensations = {}
local compensating = false
local comp_seq = 0

local function act(op, name, arg)
  if in_step then
    error("ctx." .. op .. " cannot be called inside a ctx.step function", 3)
  end
  local ok, a, b = yield(token, op, name, arg)
  if not ok then
    if type(a) == "table" then error(setmetatable(a, err_mt), 0) end
    error(a, 3)
  end
  return a, b
end

local function main_line_only(fn)
  if cur_tag ~= "" then
    error("ctx." .. fn .. " cannot be used inside a ctx.parallel branch", 3)
  end
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
  main_line_only("signal")
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
    if k ~= "model" and k ~= "on_error" and k ~= "stream" and k ~= "degrade" and k ~= "timeout" then
      body[k] = v
    end
  end
  return act("llm", req.model or "", {request = body, on_error = req.on_error,
                                       stream = req.stream, degrade = req.degrade,
                                       timeout = req.timeout})
end

local register_undo

-- A tool declared effect = true goes through the outbox (docs/workflow_guarantees.md); one
-- declared with compensate_with registers its undo step when it succeeds.
function ctx.tool(name, args, opts)
  check_name("tool", name)
  if args ~= nil and type(args) ~= "table" then error("ctx.tool: arguments must be a table", 2) end
  if opts ~= nil and type(opts) ~= "table" then error("ctx.tool: options must be a table", 2) end
  check_on_error("tool", opts and opts.on_error)
  args = args or {}
  local result, meta = act("tool", name, {args = args, on_error = opts and opts.on_error,
                                          timeout = opts and opts.timeout})
  -- on_error = "return": nil and the error
  if result == nil and type(meta) == "table" and meta.code then return nil, meta end
  if type(meta) == "table" and meta.compensate_with and not compensating then
    local undo = meta.compensate_with
    register_undo(function() ctx.tool(undo, {args = args, result = result}) end, undo)
  end
  return result
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

-- Child runs (docs/composition.md): their own journal and id, a budget carved from what this
-- run has left, cancelled with it. Returns the child's result; raises child_failed (or
-- step_timeout) unless on_error = "return".
local budget_fields = {max_steps = true, max_tools = true, max_tokens = true,
                       max_context = true, max_cost_usd = true, deadline_ms = true}

local function child(fn, intent, child_input, opts)
  check_name(fn, intent)
  if opts ~= nil and type(opts) ~= "table" then
    error("ctx." .. fn .. ": options must be a table", 3)
  end
  opts = opts or {}
  check_on_error(fn, opts.on_error)
  if opts.budget ~= nil then
    if type(opts.budget) ~= "table" then
      error("ctx." .. fn .. ": budget must be a table such as {max_steps = 20}", 3)
    end
    for k in pairs(opts.budget) do
      if not budget_fields[k] then
        error("ctx." .. fn .. ": unknown budget field \"" .. tostring(k) .. "\" (known: " ..
              "max_steps, max_tools, max_tokens, max_context, max_cost_usd, deadline_ms)", 3)
      end
    end
  end
  return act("child", intent, {input = child_input, timeout = opts.timeout, budget = opts.budget,
                               on_error = opts.on_error, fn = fn})
end

function ctx.run(intent, child_input, opts) return child("run", intent, child_input, opts) end
-- An agent runs as a child run of its intent (lib/keel/agent.lua is its loop).
function ctx.agent(name, child_input, opts) return child("agent", name, child_input, opts) end

-- --- sagas (docs/compensation.md) ---

local function saga_sync()
  act("saga", "", {depth = #compensations, compensating = compensating})
end

register_undo = function(fn, name)
  comp_seq = comp_seq + 1
  compensations[#compensations + 1] = {fn = fn, name = name, tag = cur_tag, n = comp_seq}
  saga_sync()
end

function ctx.compensate(fn, name)
  if type(fn) ~= "function" then error("ctx.compensate: argument must be a function", 2) end
  if name ~= nil and type(name) ~= "string" then
    error("ctx.compensate: name must be a string", 2)
  end
  if compensating then error("ctx.compensate cannot be called while compensating", 2) end
  register_undo(fn, name or ("undo " .. (#compensations + 1)))
end

-- --- approvals (docs/approvals.md) ---

local function string_list(fn, key, v)
  if v == nil then return end
  if type(v) ~= "table" then error("ctx." .. fn .. ": " .. key .. " must be a list of names", 3) end
  for _, s in ipairs(v) do
    if type(s) ~= "string" then
      error("ctx." .. fn .. ": " .. key .. " must be a list of names", 3)
    end
  end
end

function ctx.approval(spec)
  main_line_only("approval")
  if type(spec) ~= "table" then
    error("ctx.approval: argument must be a table such as " ..
          "{step = \"review\", timeout = \"24h\"}", 2)
  end
  check_name("approval", spec.step)
  local t = type(spec.timeout)
  if spec.timeout ~= nil and t ~= "string" and t ~= "number" then
    error("ctx.approval: timeout must be a duration such as \"24h\"", 2)
  end
  local on = spec.on_timeout
  if on ~= nil and on ~= "deny" and on ~= "approve" and on ~= "escalate" then
    error("ctx.approval: on_timeout must be \"deny\", \"approve\" or \"escalate\"", 2)
  end
  string_list("approval", "approvers", spec.approvers)
  string_list("approval", "escalate_to", spec.escalate_to)
  local m = spec.max_escalations
  if m ~= nil and (math.type(m) ~= "integer" or m < 0) then
    error("ctx.approval: max_escalations must be a whole number >= 0", 2)
  end
  if spec.required ~= nil and type(spec.required) ~= "boolean" then
    error("ctx.approval: required must be true or false", 2)
  end
  return (act("approval", spec.step, {payload = spec.payload, timeout = spec.timeout,
                                      on_timeout = on, approvers = spec.approvers,
                                      escalate_to = spec.escalate_to, max_escalations = m,
                                      required = spec.required}))
end

-- --- parallel branches (docs/composition.md) ---

local function on_error_trace(e)
  if is_ctx_error(e) then return e end
  return traceback(tostring(e))
end

-- Branch tags order undo steps deterministically: "1.10" after "1.9", nested after parent.
local function tag_less(a, b)
  if a.tag == b.tag then return a.n < b.n end
  local ai, bi = a.tag:gmatch("%d+"), b.tag:gmatch("%d+")
  while true do
    local x, y = ai(), bi()
    if x == nil then return y ~= nil or a.n < b.n end
    if y == nil then return false end
    x, y = tonumber(x), tonumber(y)
    if x ~= y then return x < y end
  end
end

local function run_parallel(fname, fns, concurrency)
  local n = #fns
  local parent = cur_tag
  local count = (par_count[parent] or 0) + 1
  par_count[parent] = count
  local group = (parent == "" and "" or parent .. "/") .. count
  act("parallel", fname, {branches = n})
  local undo_start = #compensations
  -- Every branch runs, even after one failed: what runs must not depend on the order in which
  -- answers arrive (replay delivers them in another order). The error raised is then the
  -- failed branch with the lowest index.
  local results, errors = {}, {}
  local next_i, running = 1, 0
  local waiting = {}  -- tag -> branch whose ctx call is in flight
  local owner = {}    -- tag of a nested branch -> our branch running that nested ctx.parallel
  local submit = {}

  local function step(b, ...)
    cur_tag = b.tag
    local res = pack(co_resume(b.co, ...))
    cur_tag = parent
    in_step = false  -- a step function that yielded is abandoned with its branch
    if not res[1] then
      errors[b.i] = res[2]
      running = running - 1
      return
    end
    if co_status(b.co) == "dead" then
      local out = res[2]
      if out.ok then results[b.i] = out.v else errors[b.i] = out.e end
      running = running - 1
      return
    end
    if res[2] ~= token then
      errors[b.i] = "ctx." .. fname .. ": branch " .. b.i .. " yielded outside a ctx call " ..
                    "(coroutine.yield is not supported here)"
      running = running - 1
      return
    end
    local op, name, arg = res[3], res[4], res[5]
    if op == "await" then
      -- A nested ctx.parallel in this branch: its calls travel with ours.
      for _, s in ipairs(arg.submit) do
        owner[s.tag] = b
        submit[#submit + 1] = s
      end
    else
      waiting[b.tag] = b
      submit[#submit + 1] = {tag = b.tag, op = op, name = name, arg = arg}
    end
  end

  while true do
    while running < concurrency and next_i <= n do
      local i = next_i
      next_i = i + 1
      local f = fns[i]
      local b = {i = i, tag = group .. "." .. i}
      b.co = co_create(function()
        local ok, v = xpcall(f, on_error_trace)
        return {ok = ok, v = ok and v or nil, e = (not ok) and v or nil}
      end)
      running = running + 1
      step(b)
    end
    if running == 0 then break end
    local done = act("await", "", {submit = submit})
    submit = {}
    local nested, nested_order = {}, {}
    for _, c in ipairs(done) do
      local b = waiting[c.tag]
      if b then
        waiting[c.tag] = nil
        step(b, c.ok, c.a, c.b)
      else
        local o = owner[c.tag]
        owner[c.tag] = nil
        if o then
          if not nested[o] then
            nested[o] = {}
            nested_order[#nested_order + 1] = o
          end
          local list = nested[o]
          list[#list + 1] = c
        end
      end
    end
    for _, o in ipairs(nested_order) do step(o, true, nested[o]) end
  end
  -- Undo steps registered by the branches, in branch order whatever order they finished in.
  if #compensations > undo_start + 1 then
    local slice = {}
    for i = undo_start + 1, #compensations do slice[#slice + 1] = compensations[i] end
    sort(slice, tag_less)
    for i, c in ipairs(slice) do compensations[undo_start + i] = c end
  end
  for i = 1, n do
    if errors[i] ~= nil then error(errors[i], 0) end
  end
  return results
end

local function check_concurrency(fname, opts, n)
  if opts ~= nil and type(opts) ~= "table" then
    error("ctx." .. fname .. ": options must be a table", 3)
  end
  local c = opts and opts.concurrency
  if c == nil then return n > 0 and n or 1 end
  if math.type(c) ~= "integer" or c < 1 then
    error("ctx." .. fname .. ": concurrency must be a whole number >= 1", 3)
  end
  return c
end

function ctx.parallel(fns, opts)
  if type(fns) ~= "table" then error("ctx.parallel: argument must be a list of functions", 2) end
  for i, f in ipairs(fns) do
    if type(f) ~= "function" then error("ctx.parallel: item " .. i .. " is not a function", 2) end
  end
  return run_parallel("parallel", fns, check_concurrency("parallel", opts, #fns))
end

function ctx.map(items, fn, opts)
  if type(items) ~= "table" then error("ctx.map: items must be a list", 2) end
  if type(fn) ~= "function" then error("ctx.map: second argument must be a function", 2) end
  local fns = {}
  for i, item in ipairs(items) do fns[i] = function() return fn(item, i) end end
  return run_parallel("map", fns, check_concurrency("map", opts, #fns))
end

local function default_key(answer)
  if type(answer) == "table" then answer = answer.answer or answer.content end
  if answer == nil then return nil end
  return (tostring(answer):gsub("^%s+", ""):gsub("%s+$", ""):lower())
end

-- Asks several agents or models the same question at once; the answer k of them agree on.
function ctx.quorum(spec)
  if type(spec) ~= "table" then error("ctx.quorum: argument must be a table", 2) end
  local voters, kind = spec.agents, "agent"
  if voters == nil then voters, kind = spec.models, "model" end
  if type(voters) ~= "table" or #voters == 0 then
    error("ctx.quorum: agents or models must be a non-empty list", 2)
  end
  local need = spec.need
  if math.type(need) ~= "integer" or need < 1 or need > #voters then
    error("ctx.quorum: need must be a whole number from 1 to the number of voters", 2)
  end
  if kind == "model" and type(spec.messages) ~= "table" then
    error("ctx.quorum: messages must be a list when asking models", 2)
  end
  local key = spec.key or default_key
  if type(key) ~= "function" then error("ctx.quorum: key must be a function", 2) end
  local fns = {}
  for i, v in ipairs(voters) do
    if kind == "agent" then
      fns[i] = function()
        local r = ctx.agent(v, spec.input, {on_error = "return", budget = spec.budget})
        return r
      end
    else
      fns[i] = function()
        local r = ctx.llm{model = v, messages = spec.messages, on_error = "return"}
        return r and r.content
      end
    end
  end
  local answers = run_parallel("quorum", fns, check_concurrency("quorum", spec, #fns))
  local counts, first, best, best_n = {}, {}, nil, 0
  for i = 1, #voters do
    local k = answers[i] ~= nil and key(answers[i]) or nil
    if k ~= nil then
      counts[k] = (counts[k] or 0) + 1
      if first[k] == nil then first[k] = i end
      if counts[k] > best_n or (counts[k] == best_n and first[k] < first[best]) then
        best, best_n = k, counts[k]
      end
    end
  end
  local out = {answers = answers, votes = best_n, need = need, voters = voters}
  if best ~= nil and best_n >= need then
    out.agreed = true
    out.answer = answers[first[best]]
  else
    out.agreed = false
  end
  return out
end

function ctx.emit(event) act("emit", "emit", event) end
function ctx.interrupts()
  main_line_only("interrupts")
  return (act("interrupts", "interrupts"))
end

function ctx.log(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
  host_log(concat(parts, " "))
end

-- Runs the workflow. An error nobody caught ends the run with its code; undo steps that were
-- registered run first, in reverse order, and decide the final status.
local function describe(e)
  if is_ctx_error(e) then
    return e.code or "error", tostring(e.message or ""), e.run_status, e.result
  end
  return "script_error", tostring(e), nil, nil
end

local function compensate(code, message)
  compensating = true
  saga_sync()
  local done = {}
  for i = #compensations, 1, -1 do
    local c = compensations[i]
    local ok, err = xpcall(c.fn, on_error_trace)
    if not ok then
      local ecode, emsg = describe(err)
      act("fail", "compensation_failed", {
        status = "compensation_failed",
        message = "undo step \"" .. c.name .. "\" failed (" .. ecode .. ": " .. emsg ..
                  ") after the run failed with " .. code .. ": " .. message,
        result = {compensated = done, failed_step = c.name,
                  error = {code = code, message = message},
                  compensation_error = {code = ecode, message = emsg}}})
    end
    done[#done + 1] = c.name
  end
  act("fail", code, {status = "compensated", message = message,
                     result = {compensated = done, error = {code = code, message = message}}})
end

local function main(fn, input_value)
  local ok, res = xpcall(fn, on_error_trace, ctx, input_value)
  if ok then return res end
  local code, message, status, result = describe(res)
  if #compensations > 0 and not compensating then compensate(code, message) end
  act("fail", code, {status = status or "failed", message = message, result = result})
end

return ctx, main
)lua";

}  // namespace keel::lua
