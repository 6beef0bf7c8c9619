-- Applies one side effect per item through the outbox, in parallel (parallel_test).
return function(ctx, input)
  local n = input.n or 100
  local items = {}
  for i = 1, n do items[i] = i end
  local results = ctx.map(items, function(item)
    local r = ctx.tool("apply_item", {item = item})
    return r.effect_id ~= nil
  end, {concurrency = input.concurrency or 8})
  local applied = 0
  for _, ok in ipairs(results) do if ok then applied = applied + 1 end end
  return {applied = applied, n = #results}
end
