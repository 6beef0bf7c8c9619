-- Fails with a Lua error on line 5 (tests check the file:line in the message).
return function(ctx, input)
  ctx.step("before", function() return 1 end)
  local reason = "boom"
  error(reason)
end
