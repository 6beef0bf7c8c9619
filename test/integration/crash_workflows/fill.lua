-- recovery_test (disk full): steps with ~1 KiB results, so journals fill a capped store fast.
return function(ctx, input)
  local n = input.steps or 4
  local pad = string.rep("f", input.pad or 1024)
  for i = 1, n do
    ctx.step("fill-" .. i, function() return { i = i, pad = pad } end)
    ctx.sleep("5ms")
  end
  return { id = input.id, steps = n }
end
