-- A human approval gate whose options come from the input (approval_test).
return function(ctx, input)
  ctx.step("before", function() return true end)
  local decision = ctx.approval{
    step = "review",
    payload = {amount = input.amount},
    timeout = input.timeout,
    on_timeout = input.on_timeout,
    escalate_to = {"lead"},
    max_escalations = input.max_escalations,
    approvers = input.approvers,
    required = input.required,
  }
  local after = ctx.step("after", function() return decision.decision end)
  return {decision = decision, after = after}
end
