-- Allocates without bound: the memory limit must stop it.
return function(ctx, input)
  local t = {}
  local i = 0
  while true do
    i = i + 1
    t[i] = string.rep("x", 4096) .. i
  end
end
