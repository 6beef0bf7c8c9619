-- A refund as a saga. Each step that changes something in the world registers how to undo
-- it: the effect tools through `compensate_with` in keel.toml (create_ticket -> cancel_ticket,
-- reserve_funds -> release_funds, issue_refund -> reverse_refund), the customer notice with
-- ctx.compensate. If a later step fails, Keel runs the undo steps in reverse order, durably,
-- and the run ends `compensated`.
--
-- With `make run`:
--   build/keel run refund --payload '{"order_id":"O-1001","amount":40}' --follow
--   build/keel run refund --payload '{"order_id":"O-1002","amount":40,"fail_at":"courier"}' --follow
--   build/keel runs show RUN_ID             # compensated; result.compensated lists the undo
--                                           # steps in the order they ran
--   curl -s http://127.0.0.1:8090/admin/effects   # every effect and undo, once per key
--
-- '{"order_id":"O-1003","amount":40,"wait":"5m"}' parks before the courier step: try
-- `build/keel cancel RUN_ID --compensate` to unwind a run that has not failed.
-- Docs: docs/compensation.md.
return function(ctx, input)
  local order = input.order_id
  if type(order) ~= "string" or order == "" then
    error("refund: input.order_id must be a non-empty string, e.g. {\"order_id\": \"O-1001\"}")
  end
  local amount = input.amount or 10

  -- Undo (compensate_with): cancel_ticket with {args = <these args>, result = <its answer>}.
  local ticket = ctx.tool("create_ticket", {order_id = order, subject = "Refund of " .. amount})
  -- Undo: release_funds.
  local hold = ctx.tool("reserve_funds", {order_id = order, amount = amount})
  -- Undo: reverse_refund.
  local refund = ctx.tool("issue_refund", {order_id = order, amount = amount,
                                           hold = hold.effect_id})

  ctx.tool("notify_customer", {order_id = order, template = "refund_issued", amount = amount})
  -- An undo step that is not one tool's inverse: a function, run with ctx like workflow code.
  ctx.compensate(function()
    ctx.tool("notify_customer", {order_id = order, template = "refund_withdrawn",
                                 amount = amount})
  end, "tell_customer_refund_withdrawn")

  if input.wait then
    ctx.sleep(input.wait)  -- a window in which to try `keel cancel RUN_ID --compensate`
  end

  -- The step that can fail. The failure comes from the input, so a replay makes the same
  -- choice (workflow code must be deterministic).
  if input.fail_at == "courier" then
    error({code = "courier_unavailable",
           message = "no courier can collect the return of order " .. order})
  end
  local courier = ctx.step("book_courier", function()
    return {order_id = order, pickup = "next business day"}
  end)

  return {order_id = order, ticket = ticket.effect_id, refund = refund.effect_id,
          courier = courier.pickup}
end
