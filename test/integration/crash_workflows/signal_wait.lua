-- recovery_test: a step, an optional sleep, then a wait for the "go" signal; the result echoes
-- the signal's payload.
return function(ctx, input)
  ctx.step("prepare", function()
    ctx.log("exec", "prepare")
    return { id = input.id }
  end)
  if input.delay then ctx.sleep(input.delay) end
  local got = ctx.signal("go")
  local done = ctx.step("finish", function()
    ctx.log("exec", "finish")
    return { got = got }
  end)
  return { id = input.id, got = done.got }
end
