-- Asks three models the same question and returns the answer two of them agree on.
return function(ctx, input)
  return ctx.quorum{models = {"voter-a", "voter-b", "voter-c"},
                    messages = {{role = "user", content = input.question}}, need = input.need or 2}
end
