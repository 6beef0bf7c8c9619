-- Parks on the signal input.signal (default "approve") until it arrives or input.timeout
-- passes (no timeout when absent).
return function(ctx, input)
  local name = input.signal or "approve"
  ctx.step("prepare", function() return { waiting_for = name } end)
  local opts = nil
  if input.timeout then opts = { timeout = input.timeout } end
  local payload, err = ctx.signal(name, opts)
  if err == "timeout" then
    return { timed_out = true }
  end
  return { timed_out = false, got = payload }
end
