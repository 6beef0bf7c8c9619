-- Sleeps for input.duration (default "1h"), then succeeds.
return function(ctx, input)
  ctx.sleep(input.duration or "1h")
  return { woke = true }
end
