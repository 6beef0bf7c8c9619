-- W1/W2 reference workload: ten sequential durable steps, each returning ~100 bytes of JSON
-- computed from the input and the previous result (as the peers' computeStep does).
-- Input: {"wf": "<client id>"}. Result: {wf, steps = 10, last = <result of step 9>}.

-- 32-bit FNV-1a, as Math.imul(h, 0x01000193) >>> 0 computes it.
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
  -- Pad the JSON to ~100 bytes.
  local base = #string.format('{"wf":"%s","step":%d,"acc":%d,"note":"durable-step-result"}',
                              wf, i, acc)
  r.pad = string.rep("x", math.max(0, 100 - base - 9))
  return r
end

return function(ctx, input)
  local wf = input.wf or ctx.run_id
  local prev
  for i = 0, 9 do
    prev = ctx.step("step-" .. i, function() return compute_step(wf, i, prev) end)
  end
  return { wf = wf, steps = 10, last = prev }
end
