-- A saga of four steps (compensation tests): booking a flight (its tool declares
-- compensate_with = "cancel_flight"), a hotel (undone by ctx.compensate), charging a card and
-- sending a confirmation. input.fail_at names the step that fails; input.fail_undo makes an
-- undo step fail too.
return function(ctx, input)
  local trip = input.trip or "t1"
  ctx.tool("book_flight", {trip = trip})
  local hotel = ctx.tool("book_hotel", {trip = trip})
  ctx.compensate(function()
    if input.fail_undo then error("the hotel cannot be reached") end
    ctx.tool("cancel_hotel", {trip = trip, booking = hotel.effect_id})
  end, "cancel_hotel")
  ctx.step("charge_card", function()
    if input.fail_at == 3 then error("card declined") end
    return "charged"
  end)
  if input.wait_for_approval then
    ctx.approval{step = "confirm", timeout = "1h"}
  end
  ctx.step("confirm", function()
    if input.fail_at == 4 then error("confirmation failed") end
    return "confirmed"
  end)
  return {trip = trip, status = "booked"}
end
