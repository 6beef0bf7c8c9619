-- A Lua tool for tool_runner_test: the total of an order, with a tax rate in percent.
return function(args)
  local subtotal = 0
  for _, line in ipairs(args.lines) do
    subtotal = subtotal + line.price * line.qty
  end
  local tax = subtotal * (args.tax_percent or 0) / 100
  return { subtotal = subtotal, tax = tax, total = subtotal + tax, lines = #args.lines }
end
