-- A Lua tool for tool_runner_test that refuses every order: its error must reach the caller
-- as tool_error naming this file and line.
return function(args)
  error("order " .. tostring(args.id) .. " is refused")
end
