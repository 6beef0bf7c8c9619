-- A Lua tool for tool_runner_test that never returns: only its timeout can stop it.
return function(args)
  while true do end
end
