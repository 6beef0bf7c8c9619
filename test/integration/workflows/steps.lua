-- input.n (default 10) steps named "step-1".."step-N".
return function(ctx, input)
  local n = input.n or 10
  for i = 1, n do
    ctx.step("step-" .. i, function() return i end)
  end
  return { done = n }
end
