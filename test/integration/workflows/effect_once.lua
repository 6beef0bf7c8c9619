-- One payment through the outbox to a service that honours Idempotency-Key and the same to
-- one that does not (outbox_crash_test).
return function(ctx, input)
  local a = ctx.tool("pay", {amount = input.amount or 10})
  local b = ctx.tool("pay_naive", {amount = input.amount or 10})
  return {honoured = a.effect_id, naive = b.effect_id}
end
