-- A loop of durable steps with a sleep between them; interrupts change its course.
-- Try: build/keel run countdown --payload '{"from":5}' --follow
--      build/keel interrupt RUN_ID --input '"stop"'
return function(ctx, input)
  local n = input.from or 3
  for i = n, 1, -1 do
    for _, msg in ipairs(ctx.interrupts()) do
      if msg == "stop" then return { stopped_at = i } end
    end
    ctx.step("tick-" .. i, function() return { remaining = i } end)
    ctx.sleep("1s")
  end
  return { done = true, id = ctx.uuid() }
end
