-- The standard agent loop. Every agent declared in the configuration runs this code, and
-- `ctx.agent(name, input)` runs it from any workflow. It is an ordinary Keel workflow: each
-- model and tool call is a journaled ctx action, so a crashed run resumes exactly where it
-- stopped. Copy it into your own workflow and change it if you need a different loop.
--
-- Budgets (steps, tools, tokens, context, cost, deadline) and loop detection are enforced by
-- the engine on every call, whatever this code does; the loop only decides how to behave
-- near a limit: it switches to the chain's cheapest model and asks the model to conclude.

local M = {}

local function text_of(v)
  if type(v) == "string" then return v end
  if type(v) == "table" then return v.message or v.text or "" end
  return tostring(v)
end

-- The conversation the agent starts from: input {message = "..."}, {messages = {...}} or a
-- plain string.
local function initial_messages(name, spec, input)
  local messages = {}
  local system = spec.system_prompt or ""
  if spec.output_schema_text and spec.output_schema_text ~= "" then
    system = system .. "\n\nReply with only a JSON value that matches this JSON Schema:\n"
      .. spec.output_schema_text
  end
  if system ~= "" then messages[#messages + 1] = {role = "system", content = system} end
  if type(input) == "string" then
    messages[#messages + 1] = {role = "user", content = input}
  elseif type(input) == "table" and type(input.messages) == "table" then
    for _, m in ipairs(input.messages) do messages[#messages + 1] = m end
  elseif type(input) == "table" and input.message ~= nil then
    messages[#messages + 1] = {role = "user", content = text_of(input.message)}
  else
    error("agent \"" .. name .. "\": input needs a \"message\" (text) or \"messages\" (a conversation)", 0)
  end
  return messages
end

-- A tool call the model may not make never reaches the tool: the model gets the error back
-- and can correct itself. (Arguments that are not JSON, or break the tool's schema, are
-- refused the same way by the gateway.)
local function precheck(call, allowed)
  if not allowed[call.name] then
    return {code = "unknown_tool", message = "tool \"" .. call.name .. "\" is not available to this agent"}
  end
  return nil
end

-- Tools without side effects run in parallel (ctx.tools); effect tools (effect = true) run one
-- at a time through ctx.tool, which delivers them through the outbox exactly once.
local function run_tools(ctx, tool_calls, allowed, effect_tools)
  local outcomes, pending, index, effects = {}, {}, {}, {}
  for i, call in ipairs(tool_calls) do
    local err = precheck(call, allowed)
    if err then
      outcomes[i] = {error = err}
    elseif effect_tools[call.name] then
      effects[#effects + 1] = i
    else
      pending[#pending + 1] = {name = call.name, args = call.arguments or {}}
      index[#pending] = i
    end
  end
  if #pending > 0 then
    for j, r in ipairs(ctx.tools(pending)) do outcomes[index[j]] = r end
  end
  for _, i in ipairs(effects) do
    local call = tool_calls[i]
    local args = call.arguments
    if type(args) ~= "table" or args["$raw"] ~= nil then
      local message = "the arguments of tool \"" .. call.name .. "\" are not a JSON object"
      outcomes[i] = {error = {code = "invalid_arguments", message = message}}
    else
      local result, err = ctx.tool(call.name, args, {on_error = "return"})
      outcomes[i] = err and {error = err} or {result = result}
    end
  end
  return outcomes
end

function M.run(ctx, name, input)
  local spec = ctx.agent_spec(name)
  local messages = initial_messages(name, spec, input)
  local tools = spec.tools
  local allowed = {}
  for _, t in ipairs(tools) do allowed[t.name] = true end
  if #tools == 0 then tools = nil end
  local model = spec.model ~= "" and spec.model or nil
  local degraded = false
  local turns = 0

  while true do
    -- New input from a person (POST /v1/runs/{id}/interrupt) reaches the model at this turn.
    for _, extra in ipairs(ctx.interrupts()) do
      messages[#messages + 1] = {role = "user", content = text_of(extra)}
    end
    turns = turns + 1
    local budget = ctx.budget()
    local concluding = turns >= spec.max_turns
    if not degraded and (budget.used_share >= spec.degrade_at or concluding) then
      degraded = true
      messages[#messages + 1] = {role = "system", content =
        "Your budget for this task is nearly spent. Do not call more tools: give your best " ..
        "final answer now, saying what is unfinished."}
    end
    local resp = ctx.llm{model = model, messages = messages, tools = tools,
                         stream = spec.stream, degrade = degraded}
    local calls = resp.tool_calls or {}
    messages[#messages + 1] = {role = "assistant", content = resp.content,
                               tool_calls = #calls > 0 and calls or nil}
    if #calls == 0 or concluding then
      return {answer = resp.content, model = resp.model, turns = turns,
              usage = ctx.budget().used, stopped = concluding and #calls > 0 and "max_turns" or nil}
    end
    local outcomes = run_tools(ctx, calls, allowed, spec.effect_tools or {})
    for i, call in ipairs(calls) do
      local o = outcomes[i]
      local content
      if o.error then
        content = "error (" .. tostring(o.error.code) .. "): " .. tostring(o.error.message)
      else
        content = o.result
      end
      messages[#messages + 1] = {role = "tool", tool_call_id = call.id, name = call.name,
                                 content = content}
    end
  end
end

return M
