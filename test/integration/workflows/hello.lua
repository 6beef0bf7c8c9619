-- A copy of examples/hello.lua with a short sleep, so tests do not depend on the examples.
return function(ctx, input)
  local name = input.name or "world"
  local greeting = ctx.step("greet", function()
    return { text = "hello, " .. name }
  end)
  ctx.emit({ kind = "greeted", text = greeting.text })
  ctx.sleep("50ms")
  local shout = ctx.step("shout", function()
    return string.upper(greeting.text) .. "!"
  end)
  return { greeting = greeting.text, shout = shout }
end
