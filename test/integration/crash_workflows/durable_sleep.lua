-- recovery_test: two steps, a sleep long enough to park the run (status waiting, timer), one
-- more step. Each step logs once per live execution.
return function(ctx, input)
  local a = ctx.step("before-1", function()
    ctx.log("exec", "before-1")
    return { n = 1 }
  end)
  local b = ctx.step("before-2", function()
    ctx.log("exec", "before-2")
    return { n = a.n + 1 }
  end)
  ctx.sleep(input.sleep or "2s")
  local c = ctx.step("after", function()
    ctx.log("exec", "after")
    return { n = b.n + 1 }
  end)
  return { id = input.id, n = c.n }
end
