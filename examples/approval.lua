-- Waits for a person: the run parks (no memory held) until the "approve" signal arrives or
-- the timeout passes. Try:
--   build/keel run approval --payload '{"amount":120}'
--   build/keel signal RUN_ID approve --payload '{"approved":true,"by":"ana"}'
return function(ctx, input)
  local request = ctx.step("prepare", function()
    return { amount = input.amount or 0, requested_at = "now" }
  end)
  ctx.emit({ kind = "waiting_for_approval", amount = request.amount })
  local decision, err = ctx.signal("approve", { timeout = input.timeout or "1h" })
  if err == "timeout" then
    return { approved = false, reason = "no decision in time" }
  end
  local receipt = ctx.step("apply", function()
    return { applied = decision.approved == true, by = decision.by }
  end)
  return receipt
end
