-- crash_test: ten durable steps, each after a short (resident) sleep. Every step logs once per
-- live execution, so the test counts re-executions; the result is recomputed by the test:
--   acc_0 = input.id;  acc_i = (acc_{i-1} * 31 + i * 7919) % 1000000007
return function(ctx, input)
  local acc = input.id
  for i = 1, 10 do
    ctx.sleep("3ms")
    local prev = acc
    local r = ctx.step("step-" .. i, function()
      ctx.log("exec", i)
      return {
        i = i,
        acc = (prev * 31 + i * 7919) % 1000000007,
        pad = string.rep(string.char(96 + i), 64),
      }
    end)
    acc = r.acc
  end
  return { id = input.id, steps = 10, acc = acc }
end
