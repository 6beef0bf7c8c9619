-- The first workflow: durable steps, an event and a durable sleep.
-- Try: build/keel run hello --payload '{"name":"x"}' --follow
return function(ctx, input)
  local name = input.name or "world"
  local greeting = ctx.step("greet", function()
    return { text = "hello, " .. name }
  end)
  ctx.emit({ kind = "greeted", text = greeting.text })
  ctx.sleep("500ms")
  local shout = ctx.step("shout", function()
    return string.upper(greeting.text) .. "!"
  end)
  return { greeting = greeting.text, shout = shout }
end
