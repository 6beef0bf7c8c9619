-- recovery_test: resident runs (300 ms sleeps stay in memory) that take a few seconds.
return function(ctx, input)
  local n = input.steps or 5
  for i = 1, n do
    ctx.step("s" .. i, function() return { i = i } end)
    ctx.sleep(input.pause or "300ms")
  end
  return { id = input.id, steps = n }
end
