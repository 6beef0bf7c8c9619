-- A tool call with its own timeout; the workflow catches the error.
return function(ctx, input)
  local ok, err = pcall(ctx.tool, "sleep", {ms = input.ms or 3000}, {timeout = input.timeout or "200ms"})
  if ok then return {timed_out = false} end
  return {timed_out = true, code = err.code}
end
