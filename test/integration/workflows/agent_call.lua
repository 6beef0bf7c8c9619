-- Runs the "helper" agent (configured by agent_test) from a workflow.
return function(ctx, input)
  local out = ctx.agent("helper", {message = input.message})
  return {answer = out.answer}
end
