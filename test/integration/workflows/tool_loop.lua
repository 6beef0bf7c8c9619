-- Calls the same tool with the same arguments until something stops it.
return function(ctx, input)
  for i = 1, 10 do ctx.tool("echo", {x = 1}) end
  return {done = true}
end
