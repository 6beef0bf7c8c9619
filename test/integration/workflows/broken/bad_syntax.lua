-- A syntax error on line 4: the server must skip this file and say where.
return function(ctx, input)
  local x = 1
  local y = = 2
  return { x = x, y = y }
end
