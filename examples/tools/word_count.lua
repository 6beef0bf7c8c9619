-- A Lua tool (examples/keel.toml, [tools.word_count]): the file returns the function the
-- gateway calls with the model's arguments, already checked against the tool's `parameters`
-- schema. It runs in a fresh sandbox for each call, with no io, os or network: pure
-- computation only. Whatever it returns (a table here) is sent back to the model as JSON.
return function(args)
  local text = args.text
  if type(text) ~= "string" then
    error("text must be a string")
  end
  local words = 0
  for _ in string.gmatch(text, "%S+") do
    words = words + 1
  end
  return { words = words }
end
