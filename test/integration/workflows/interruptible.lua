-- Polls ctx.interrupts() between short sleeps until it is told "stop" (or gives up after
-- input.rounds polls).
return function(ctx, input)
  local rounds = input.rounds or 600
  for i = 1, rounds do
    for _, msg in ipairs(ctx.interrupts()) do
      if msg == "stop" then return { stopped = true, round = i } end
    end
    ctx.sleep("50ms")
  end
  return { stopped = false }
end
