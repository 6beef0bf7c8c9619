-- G1 workload (gateway overhead): `calls` sequential model calls through Keel's gateway, each
-- the same small chat request (a system prompt and one user message), answered by the LLM
-- simulator's echo. The user message carries the marker "g1call:<wf>:<i>:" from which G1's
-- timing proxy pairs each call with the one before it (bench/timing_proxy.h).
-- Input: {"wf": "<client id>", "model": "<model>", "calls": K}.
-- Result: {wf, calls, last = <text of the last answer>}.
return function(ctx, input)
  local last
  for i = 1, input.calls do
    local resp = ctx.llm{
      model = input.model,
      messages = {
        {role = "system", content = "You are a benchmark. Answer in one short sentence."},
        {role = "user", content = "g1call:" .. input.wf .. ":" .. i .. ": hello"},
      },
      max_tokens = 64,
    }
    last = resp.content
  end
  return {wf = input.wf, calls = input.calls, last = last}
end
