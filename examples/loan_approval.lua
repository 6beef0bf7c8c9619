-- Loan approval: two agents prepare the file, an underwriter decides, then exactly one side
-- effect goes out. Each agent is a child run; the approval parks this run (no memory held)
-- until a person decides or the timeout passes, even across a restart of the server.
--
-- With `make run` (the simulator answers for both agents and receives the effects):
--   build/keel run loan_approval --payload '{"app_id":"A-17"}'
--   build/keel approvals ls                                  # the pending approval and its id
--   build/keel approvals approve APPROVAL_ID --by ana --reason "income verified"
--   build/keel runs show RUN_ID --journal                    # agents, approval, file_loan
--   curl -s http://127.0.0.1:8090/admin/effects              # what the receiving service got
--
-- `keel approvals deny APPROVAL_ID --by ana --reason "..."` sends notify_rejection instead.
-- With '{"app_id":"A-18","timeout":"30s"}' nobody decides: after 30 s the approval escalates
-- (escalate_to is notified through the [approvals] webhook), after 30 s more it is denied by
-- "keel:timeout" and notify_rejection goes out. Docs: docs/approvals.md.
return function(ctx, input)
  local app_id = input.app_id
  if type(app_id) ~= "string" or app_id == "" then
    error("loan_approval: input.app_id must be a non-empty string, e.g. {\"app_id\": \"A-17\"}")
  end

  local docs = ctx.agent("gather_docs", {
    message = "Gather the documents of loan application " .. app_id .. ".",
  })
  local score = ctx.agent("score_applicant", {
    message = "Score the applicant of loan application " .. app_id .. ". Documents: " ..
      docs.answer,
  })
  -- The scoring agent answers "score N (...): reasons"; parsing here is plain Lua, so it
  -- gives the same value on every replay.
  local points = tonumber(string.match(score.answer or "", "score (%d+)"))

  local decision = ctx.approval{
    step = "underwriter_review",
    payload = {app_id = app_id, documents = docs.answer, score = points, analysis = score.answer},
    timeout = input.timeout or "24h",
    on_timeout = "escalate",
    escalate_to = {"lead-underwriter@example.com"},
    max_escalations = 1,
  }

  if decision.approved then
    -- An effect tool: written to the outbox with the journal entry, delivered with
    -- Idempotency-Key "<run_id>:<seq>" until the service confirms it.
    local filed = ctx.tool("file_loan", {app_id = app_id, score = points, approved_by = decision.by})
    return {app_id = app_id, status = "filed", approved_by = decision.by,
            effect_id = filed.effect_id}
  end

  local reason = decision.reason
  if type(reason) ~= "string" or reason == "" then
    reason = decision.timed_out and "no decision in time" or "declined by the underwriter"
  end
  local sent = ctx.tool("notify_rejection", {app_id = app_id, reason = reason})
  return {app_id = app_id, status = "rejected", by = decision.by, reason = reason,
          timed_out = decision.timed_out, effect_id = sent.effect_id}
end
