-- The determinism helpers, each journaled once.
return function(ctx, input)
  return { now = ctx.now(), r = ctx.random(), id = ctx.uuid() }
end
