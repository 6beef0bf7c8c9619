-- W3 reference workload (crash recovery): ten steps of 50 ms each. The 50 ms is a durable
-- timer, ctx.sleep("50ms"), before each ctx.step; the step itself logs one `workflow_log` line
-- ("exec <i>") each time it really executes, so the benchmark counts executions per step from
-- the server's log (a step answered from the journal on replay does not run, so does not log).
-- Input: {"wf": "<client id>"}.

local function fnv(s)
  local h = 0x811c9dc5
  for i = 1, #s do
    h = ((h ~ s:byte(i)) * 0x01000193) & 0xffffffff
  end
  return h
end

local function compute_step(wf, i, prev)
  local acc = fnv(wf .. ":" .. i .. ":" .. (prev and math.tointeger(prev.acc) or 0))
  local r = { wf = wf, step = i, acc = acc, note = "durable-step-result" }
  local base = #string.format('{"wf":"%s","step":%d,"acc":%d,"note":"durable-step-result"}',
                              wf, i, acc)
  r.pad = string.rep("x", math.max(0, 100 - base - 9))
  return r
end

return function(ctx, input)
  local wf = input.wf or ctx.run_id
  local prev
  for i = 0, 9 do
    ctx.sleep("50ms")
    prev = ctx.step("step-" .. i, function()
      ctx.log("exec", i)
      return compute_step(wf, i, prev)
    end)
  end
  return { wf = wf, steps = 10, last = prev }
end
