-- input.n steps ("s1".."sN") with a sleep of input.pause (default "150ms") before each one
-- but the first, so an event stream of the run is live while it runs.
return function(ctx, input)
  local n = input.n or 4
  local pause = input.pause or "150ms"
  for i = 1, n do
    if i > 1 then ctx.sleep(pause) end
    ctx.step("s" .. i, function() return { i = i } end)
  end
  return { steps = n }
end
