-- Never yields: the instruction budget must stop it.
return function(ctx, input)
  while true do end
end
