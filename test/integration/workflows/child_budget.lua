-- A parent whose child run (steps.lua) gets a budget carved from what the parent has left.
return function(ctx, input)
  ctx.step("one", function() return 1 end)
  local ok, err = pcall(ctx.run, "steps", {n = input.child_steps or 3})
  return {ok = ok, code = (not ok) and err.code or nil}
end
