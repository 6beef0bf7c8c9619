-- An effect whose receiving service is down for good (outbox_crash_test).
return function(ctx, input)
  return ctx.tool("flaky", {attempt = 1})
end
