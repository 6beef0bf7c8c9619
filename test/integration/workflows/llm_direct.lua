-- One model call straight from a workflow, naming the model.
return function(ctx, input)
  local resp = ctx.llm{model = "sim-small", messages = {{role = "user", content = input.text}}}
  return {content = resp.content, model = resp.model}
end
