-- W4 reference workload (idle memory): wait for the "go" signal immediately, then finish.
-- While it waits the run is parked: its state is the journal, not a Lua VM in memory.
return function(ctx, input)
  local v = ctx.signal("go")
  return { wf = input.wf, released = true, signal = v }
end
