-- Starts child runs in parallel branches and returns their results (composition tests).
return function(ctx, input)
  local results = ctx.parallel({
    function() return ctx.run(input.child or "sleeper", input.child_input or {duration = "1h"}) end,
    function() return ctx.run(input.child or "sleeper", input.child_input or {duration = "1h"}) end,
  })
  return results
end
