-- Loads fine beside bad_syntax.lua.
return function(ctx, input)
  local v = ctx.step("only", function() return "fine" end)
  return { value = v }
end
