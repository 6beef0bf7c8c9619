#include "cli/transcript.h"

#include <gtest/gtest.h>

#include "cli/output.h"

namespace keel::cli {
namespace {

namespace json = boost::json;

json::value J(std::string_view text) {
  std::string error;
  auto v = ParseJson(text, &error);
  EXPECT_TRUE(v.has_value()) << error << " in " << text;
  return v ? *v : json::value();
}

json::array Entries(std::initializer_list<std::string_view> texts) {
  json::array a;
  for (auto t : texts) a.push_back(J(t));
  return a;
}

// An agent run as the engine journals it: the spec, a first turn that asks for two tools
// (one the agent may not use, so the loop answers it without a tool entry) after the first
// model failed over, an interrupt, and a final answer.
const char* kAgentRun = R"({
  "id": "r1", "intent": "support", "status": "succeeded",
  "usage": {"steps": 3, "tools": 1, "tokens": 150, "cost_usd": 0.00042},
  "result": {"answer": "It is 3 degrees in Oslo.", "model": "sim-small", "turns": 2},
  "error": null
})";

json::array AgentEntries() {
  return Entries({
      R"({"seq":1,"kind":"config","name":"agent:support","result":{"name":"support",
          "model":"fast","system_prompt":"Be terse.","budget":{"max_steps":20},
          "tools":[{"name":"get_weather","description":"d","parameters":{}}]}})",
      R"({"seq":2,"kind":"interrupts","name":"interrupts","result":[]})",
      R"({"seq":3,"kind":"llm","name":"fast",
          "request":{"model":"fast","request":{"messages":[
            {"role":"system","content":"Be terse.\nAlways answer in English."},
            {"role":"user","content":"Weather in Oslo?"}],
            "tools":[{"name":"get_weather"}]}},
          "result":{"response":{"content":"","tool_calls":[
              {"id":"c1","name":"get_weather","arguments":{"city":"Oslo"}},
              {"id":"c2","name":"nope","arguments":{}}],
            "finish_reason":"tool_calls",
            "usage":{"input_tokens":40,"output_tokens":10,"estimated":false,"cost_usd":0.0002},
            "model":"sim-small","response_id":"x"},
           "attempts":[
            {"target":"sim-large","attempt":1,"outcome":"retry","http_status":503,"latency_ms":3,"backoff_ms":100},
            {"target":"sim-large","attempt":2,"outcome":"retry","http_status":503,"latency_ms":3,"backoff_ms":200},
            {"target":"sim-large","attempt":3,"outcome":"fallback","http_status":503,"latency_ms":3},
            {"target":"sim-small","attempt":1,"outcome":"ok","http_status":200,"latency_ms":5}]}})",
      R"({"seq":4,"kind":"tool","name":"get_weather","request":{"city":"Oslo"},
          "result":{"result":{"temp":3,"unit":"C"},
                    "attempts":[{"target":"get_weather","attempt":1,"outcome":"ok","latency_ms":1}]}})",
      R"({"seq":5,"kind":"interrupts","name":"interrupts","result":["and Bergen?"]})",
      // The prompt went through a Lua table: keys reordered, 3 became 3.0.
      R"({"seq":6,"kind":"llm","name":"fast",
          "request":{"model":"fast","request":{"messages":[
            {"content":"Be terse.\nAlways answer in English.","role":"system"},
            {"role":"user","content":"Weather in Oslo?"},
            {"role":"assistant","content":"","tool_calls":[
              {"id":"c1","name":"get_weather","arguments":{"city":"Oslo"}},
              {"id":"c2","name":"nope","arguments":{}}]},
            {"role":"tool","tool_call_id":"c1","name":"get_weather","content":{"unit":"C","temp":3.0}},
            {"role":"tool","tool_call_id":"c2","name":"nope",
             "content":"error (unknown_tool): tool \"nope\" is not available to this agent"},
            {"role":"user","content":"and Bergen?"}]}},
          "result":{"response":{"content":"It is 3 degrees in Oslo.","tool_calls":[],
            "finish_reason":"stop",
            "usage":{"input_tokens":90,"output_tokens":10,"estimated":true,"cost_usd":0.00022},
            "model":"sim-small"},
           "attempts":[{"target":"sim-small","attempt":1,"outcome":"ok","latency_ms":5}]}})",
  });
}

TEST(TranscriptTest, AgentConversationAsText) {
  EXPECT_EQ(
      FormatTranscript(J(kAgentRun).get_object(), AgentEntries()),
      "run r1 (support)\n"
      "#1  agent support: model fast, tools get_weather\n"
      "#3  system: Be terse.\n"
      "      Always answer in English.\n"
      "#3  user: Weather in Oslo?\n"
      "#3  model fast -> sim-small: 40 in + 10 out tokens, $0.0002; after 2 retries (HTTP 503), "
      "fell back from sim-large to sim-small\n"
      "#3  call get_weather {\"city\":\"Oslo\"}\n"
      "#3  call nope {}\n"
      "#4  tool get_weather {\"city\":\"Oslo\"}\n"
      "#4  result: {\"temp\":3,\"unit\":\"C\"}\n"
      "#5  user (interrupt): and Bergen?\n"
      "#6  tool result for nope: error (unknown_tool): tool \"nope\" is not available to this "
      "agent\n"
      "#6  model fast -> sim-small: 90 in + 10 out tokens (estimated), $0.0002\n"
      "#6  assistant: It is 3 degrees in Oslo.\n"
      "\n"
      "status: succeeded\n"
      "answer: It is 3 degrees in Oslo.\n"
      "usage:  3 steps, 1 tool, 150 tokens, $0.0004\n");
}

TEST(TranscriptTest, AgentConversationAsItems) {
  json::array items = BuildTranscript(J(kAgentRun).get_object(), AgentEntries());
  std::vector<std::string> types;
  for (const auto& i : items) types.push_back(std::string(i.at("type").as_string()));
  EXPECT_EQ(types, (std::vector<std::string>{"agent", "message", "message", "model", "tool",
                                             "input", "message", "model", "outcome"}));
  const json::object& first_model = items[3].as_object();
  EXPECT_EQ(first_model.at("seq"), 3);
  EXPECT_EQ(first_model.at("asked"), "fast");
  EXPECT_EQ(first_model.at("model"), "sim-small");
  EXPECT_EQ(first_model.at("note"),
            "after 2 retries (HTTP 503), fell back from sim-large to sim-small");
  EXPECT_EQ(first_model.at("attempts").as_array().size(), 4u);
  EXPECT_EQ(first_model.at("tool_calls").as_array().size(), 2u);
  const json::object& tool = items[4].as_object();
  EXPECT_EQ(tool.at("name"), "get_weather");
  EXPECT_EQ(tool.at("arguments"), J(R"({"city":"Oslo"})"));
  EXPECT_EQ(tool.at("result"), J(R"({"temp":3,"unit":"C"})"));
  EXPECT_EQ(items[5].at("input"), "and Bergen?");
  EXPECT_EQ(items[6].at("role"), "tool");
  EXPECT_EQ(items[6].at("tool_call_id"), "c2");
  const json::object& outcome = items.back().as_object();
  EXPECT_FALSE(outcome.contains("seq"));
  EXPECT_EQ(outcome.at("status"), "succeeded");
  EXPECT_EQ(outcome.at("answer"), "It is 3 degrees in Oslo.");
  EXPECT_EQ(outcome.at("usage").at("tokens"), 150);
}

TEST(TranscriptTest, UnrelatedPromptIsShownWhole) {
  // Two independent ctx.llm calls: the second prompt shares nothing with the first.
  json::array entries = Entries({
      R"({"seq":1,"kind":"llm","name":"","request":{"model":"","request":{"messages":[
          {"role":"user","content":"one"}]}},
          "result":{"response":{"content":"1","usage":{"input_tokens":1,"output_tokens":1},
                    "model":"m"},"attempts":[]}})",
      R"({"seq":2,"kind":"llm","name":"","request":{"model":"","request":{"messages":[
          {"role":"user","content":"two"}]}},
          "result":{"response":{"content":"2","usage":{"input_tokens":1,"output_tokens":1},
                    "model":"m"},"attempts":[]}})",
  });
  std::string text = FormatTranscript(
      J(R"({"id":"r","status":"running","usage":{"steps":2}})").get_object(), entries);
  EXPECT_EQ(text,
            "run r\n"
            "#1  user: one\n"
            "#1  model (default) -> m: 1 in + 1 out tokens\n"
            "#1  assistant: 1\n"
            "#2  user: two\n"
            "#2  model (default) -> m: 1 in + 1 out tokens\n"
            "#2  assistant: 2\n"
            "\n"
            "status: running\n"
            "usage:  2 steps\n");
}

TEST(TranscriptTest, ResultsPassedOnLaterAreNotRepeated) {
  // A tool result and an answer reach a model only after an unrelated model call.
  json::array entries = Entries({
      R"({"seq":1,"kind":"tool","name":"get_weather","request":{"city":"Oslo"},
          "result":{"result":{"temp":3},"attempts":[]}})",
      R"({"seq":2,"kind":"llm","name":"a","request":{"model":"a","request":{"messages":[
          {"role":"user","content":"x"}]}},
          "result":{"response":{"content":"first","usage":{"input_tokens":1,"output_tokens":1},
                    "model":"a"},"attempts":[]}})",
      R"({"seq":3,"kind":"llm","name":"b","request":{"model":"b","request":{"messages":[
          {"role":"user","content":"y"}]}},
          "result":{"response":{"content":"other","usage":{"input_tokens":1,"output_tokens":1},
                    "model":"b"},"attempts":[]}})",
      R"({"seq":4,"kind":"llm","name":"a","request":{"model":"a","request":{"messages":[
          {"role":"user","content":"x"},
          {"role":"assistant","content":"first"},
          {"role":"tool","tool_call_id":"c","name":"get_weather","content":{"temp":3}},
          {"role":"assistant","content":"never answered"}]}},
          "result":{"response":{"content":"done","usage":{"input_tokens":1,"output_tokens":1},
                    "model":"a"},"attempts":[]}})",
  });
  std::string text = FormatTranscript(
      J(R"({"id":"r","status":"running","usage":{"steps":4}})").get_object(), entries);
  EXPECT_EQ(text,
            "run r\n"
            "#1  tool get_weather {\"city\":\"Oslo\"}\n"
            "#1  result: {\"temp\":3}\n"
            "#2  user: x\n"
            "#2  model a: 1 in + 1 out tokens\n"
            "#2  assistant: first\n"
            "#3  user: y\n"
            "#3  model b: 1 in + 1 out tokens\n"
            "#3  assistant: other\n"
            "#4  user: x\n"
            "#4  assistant (in prompt): never answered\n"
            "#4  model a: 1 in + 1 out tokens\n"
            "#4  assistant: done\n"
            "\n"
            "status: running\n"
            "usage:  4 steps\n");
}

TEST(TranscriptTest, FailuresBlobsAndPartialAnswer) {
  json::array entries = Entries({
      R"({"seq":1,"kind":"tool","name":"search","request":{"q":"x"},
          "result":{"result":{"$ref":"blob:r2:1","bytes":20480,"preview":"{\"rows\":[1,2,3"},
                    "attempts":[]}})",
      R"({"seq":2,"kind":"tool","name":"search","request":{"q":7},
          "result":{"error":{"code":"invalid_arguments","message":"q: must be a string"},
                    "attempts":[]}})",
      R"({"seq":3,"kind":"llm","name":"chain",
          "request":{"model":"chain","request":{"messages":[{"role":"user","content":"go"}]}},
          "result":{"error":{"code":"invalid_request","message":"sim-small: HTTP 400: bad"},
           "attempts":[
            {"target":"sim-large","attempt":1,"outcome":"breaker_open","error":"breaker open until T","latency_ms":0},
            {"target":"sim-small","attempt":1,"outcome":"failed","http_status":400,"error":"HTTP 400: bad","latency_ms":2}]}})",
  });
  const char* run = R"({"id":"r2","intent":"w","status":"budget_exhausted",
      "usage":{"steps":3,"tools":2,"tokens":0,"cost_usd":0},
      "result":{"partial_answer":null,"usage":{"steps":3}},
      "error":{"code":"budget_exhausted","message":"max_tools (2) reached"}})";
  EXPECT_EQ(FormatTranscript(J(run).get_object(), entries),
            "run r2 (w)\n"
            "#1  tool search {\"q\":\"x\"}\n"
            "#1  result: [stored result, 20480 bytes] {\"rows\":[1,2,3\n"
            "#2  tool search {\"q\":7}\n"
            "#2  error: invalid_arguments: q: must be a string\n"
            "#3  user: go\n"
            "#3  model chain; fell back from sim-large (breaker open) to sim-small\n"
            "#3  error: invalid_request: sim-small: HTTP 400: bad\n"
            "\n"
            "status:         budget_exhausted\n"
            "partial answer: (none)\n"
            "error:          budget_exhausted: max_tools (2) reached\n"
            "usage:          3 steps, 2 tools\n");
  json::array items = BuildTranscript(J(run).get_object(), entries);
  EXPECT_TRUE(items.back().as_object().at("partial_answer").is_null());
  EXPECT_EQ(items[1].at("error").at("code"), "invalid_arguments");
}

TEST(TranscriptTest, LongToolResultsAreCut) {
  std::string big(500, 'x');
  json::array entries =
      Entries({R"({"seq":1,"kind":"tool","name":"t","request":{},"result":{"result":")" + big +
               R"(","attempts":[]}})"});
  std::string text = FormatTranscript(J(R"({"id":"r","status":"running"})").get_object(), entries);
  EXPECT_NE(text.find("#1  result: " + std::string(197, 'x') + "...\n"), std::string::npos) << text;
}

TEST(TranscriptTest, PlainWorkflowSteps) {
  json::array entries = Entries({
      R"({"seq":1,"kind":"step","name":"greet","result":{"text":"hi"}})",
      R"({"seq":2,"kind":"sleep","name":"sleep","result":{"wake_at":1700000060000}})",
      R"({"seq":3,"kind":"signal","name":"approve","result":{"signal":{"ok":true}}})",
      R"({"seq":4,"kind":"signal","name":"again","result":{"timeout":true}})",
      R"({"seq":5,"kind":"emit","name":"emit","result":{"kind":"done"}})",
      R"({"seq":6,"kind":"now","name":"now","result":1700000000000})",
      R"({"seq":7,"kind":"uuid","name":"uuid","result":"u-1"})",
      R"({"seq":8,"kind":"interrupts","name":"interrupts","result":[{"message":"stop"},{"x":1}]})",
      R"({"seq":9,"kind":"config","name":"other","result":{"a":1}})",
      R"({"seq":10,"kind":"future","name":"f","result":[1]})",
  });
  const char* run = R"({"id":"r3","intent":"hello","status":"failed","usage":{"steps":1},
      "result":null,"error":{"code":"script_error","message":"boom"}})";
  EXPECT_EQ(FormatTranscript(J(run).get_object(), entries),
            "run r3 (hello)\n"
            "#1   step greet: {\"text\":\"hi\"}\n"
            "#2   sleep until 2023-11-14T22:14:20Z\n"
            "#3   signal approve: {\"ok\":true}\n"
            "#4   signal again: timed out\n"
            "#5   emit {\"kind\":\"done\"}\n"
            "#6   now: 1700000000000 (2023-11-14T22:13:20Z)\n"
            "#7   uuid: u-1\n"
            "#8   user (interrupt): stop\n"
            "#8   user (interrupt): {\"x\":1}\n"
            "#9   config other\n"
            "#10  future f: [1]\n"
            "\n"
            "status: failed\n"
            "error:  script_error: boom\n"
            "usage:  1 step\n");
}

// A workflow that fans out, starts a child run, waits for an approval and queues an effect:
// the entry kinds of child runs, approvals, the outbox and parallel branches.
json::array OrchestrationEntries() {
  return Entries({
      R"({"seq":1,"kind":"parallel","name":"","result":{"branches":2}})",
      R"({"seq":2,"kind":"step","name":"quote","branch":"1.1","result":{"eur":120}})",
      R"({"seq":3,"kind":"step","name":"stock","branch":"1.2","result":true})",
      R"({"seq":4,"kind":"child","name":"kyc","result":{"run_id":"c-1"}})",
      R"({"seq":5,"kind":"child_result","name":"kyc","result":{"run_id":"c-1",
          "status":"succeeded","result":{"ok":true},"error":null,"usage":{"steps":1}}})",
      R"({"seq":6,"kind":"child","name":"fraud","result":{"run_id":"c-2"}})",
      R"({"seq":7,"kind":"child_result","name":"fraud","result":{"run_id":"c-2",
          "status":"failed","result":null,
          "error":{"code":"script_error","message":"no score"},"usage":{}}})",
      R"({"seq":8,"kind":"approval","name":"manager_ok",
          "result":{"approval_id":"ap-1","deadline_at_ms":1700003600000}})",
      R"({"seq":9,"kind":"signal","name":"$approval:ap-1","result":{"signal":{
          "approval_id":"ap-1","decision":"approved","approved":true,"by":"alice",
          "reason":"fine","at":1700000100000,"timed_out":false}}})",
      R"({"seq":10,"kind":"approval","name":"","result":{"approval_id":"ap-2","deadline_at_ms":0}})",
      R"({"seq":11,"kind":"signal","name":"$approval:ap-2","result":{"signal":{
          "approval_id":"ap-2","decision":"denied","approved":false,"by":"keel:timeout",
          "reason":"","at":1700000200000,"timed_out":true}}})",
      R"({"seq":12,"kind":"outbox","name":"charge_card","result":{"key":"r9:12",
          "target":"charge_card"}})",
      R"({"seq":13,"kind":"tool","name":"charge_card","request":{"amount":120},
          "result":{"result":{"charge":"ch_1"},"attempts":[]}})",
      R"({"seq":14,"kind":"outbox","name":"refund","result":{}})",
  });
}

const char* kChildRun = R"({"id":"r9","intent":"order","status":"succeeded",
    "parent_run_id":"r0","usage":{"steps":4},"result":{"done":true},"error":null})";

TEST(TranscriptTest, OrchestrationAsText) {
  EXPECT_EQ(FormatTranscript(J(kChildRun).get_object(), OrchestrationEntries()),
            "run r9 (order), child of run r0\n"
            "#1   parallel: 2 branches\n"
            "#2   [1.1] step quote: {\"eur\":120}\n"
            "#3   [1.2] step stock: true\n"
            "#4   started child run c-1 (kyc)\n"
            "#5   child run c-1 succeeded: {\"ok\":true}\n"
            "#6   started child run c-2 (fraud)\n"
            "#7   child run c-2 failed\n"
            "#7   error: script_error: no score\n"
            "#8   approval ap-1 (manager_ok) created, deadline 2023-11-14T23:13:20Z\n"
            "#9   approval ap-1 approved by alice: fine\n"
            "#10  approval ap-2 created, no deadline\n"
            "#11  approval ap-2 denied by keel:timeout (timed out)\n"
            "#12  effect intent queued for tool charge_card (Idempotency-Key r9:12)\n"
            "#13  tool charge_card {\"amount\":120}\n"
            "#13  result: {\"charge\":\"ch_1\"}\n"
            "#14  effect intent queued for tool refund (Idempotency-Key r9:14)\n"
            "\n"
            "status:     succeeded\n"
            "parent run: r0\n"
            "result:     {\n"
            "              \"done\": true\n"
            "            }\n"
            "usage:      4 steps\n");
}

TEST(TranscriptTest, OrchestrationAsItems) {
  json::array items = BuildTranscript(J(kChildRun).get_object(), OrchestrationEntries());
  ASSERT_EQ(items.size(), 15u);
  EXPECT_EQ(items[0], J(R"({"seq":1,"type":"parallel","branches":2})"));
  EXPECT_EQ(items[1],
            J(R"({"seq":2,"type":"step","name":"quote","result":{"eur":120},"branch":"1.1"})"));
  EXPECT_EQ(items[3], J(R"({"seq":4,"type":"child","name":"kyc","run_id":"c-1"})"));
  EXPECT_EQ(items[4], J(R"({"seq":5,"type":"child_result","run_id":"c-1","status":"succeeded",
                             "result":{"ok":true}})"));
  EXPECT_EQ(items[6], J(R"({"seq":7,"type":"child_result","run_id":"c-2","status":"failed",
                             "error":{"code":"script_error","message":"no score"}})"));
  EXPECT_EQ(items[7], J(R"({"seq":8,"type":"approval","step":"manager_ok","approval_id":"ap-1",
                             "deadline_at_ms":1700003600000})"));
  EXPECT_EQ(items[8], J(R"({"seq":9,"type":"decision","approval_id":"ap-1",
                             "decision":"approved","by":"alice","reason":"fine",
                             "timed_out":false})"));
  EXPECT_EQ(items[11], J(R"({"seq":12,"type":"outbox","tool":"charge_card","key":"r9:12"})"));
  EXPECT_EQ(items[13], J(R"({"seq":14,"type":"outbox","tool":"refund","key":"r9:14"})"));
  EXPECT_EQ(items[14].at("type"), "outcome");
  EXPECT_EQ(items[14].at("parent_run_id"), "r0");
}

TEST(TranscriptTest, AnOrdinarySignalWithADollarNameStaysASignal) {
  json::array entries = Entries({
      R"({"seq":1,"kind":"signal","name":"$approval:ap-1","result":{"timeout":true}})",
      R"({"seq":2,"kind":"signal","name":"$approval:ap-2","result":{"signal":"yes"}})",
  });
  EXPECT_EQ(FormatTranscript(J(R"({"id":"r","status":"running"})").get_object(), entries),
            "run r\n"
            "#1  signal $approval:ap-1: timed out\n"
            "#2  signal $approval:ap-2: yes\n"
            "\n"
            "status: running\n"
            "usage:  0 steps\n");
}

TEST(TranscriptTest, ControlCharactersAreNeutralised) {
  json::array entries =
      Entries({R"({"seq":1,"kind":"step","name":"a\u001b[2J","result":"x\u001by"})"});
  std::string text = FormatTranscript(J(R"({"id":"r","status":"running"})").get_object(), entries);
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_NE(text.find("#1  step a?[2J: x?y\n"), std::string::npos) << text;
}

TEST(AttemptsNoteTest, SumsUpRetriesAndFallbacks) {
  EXPECT_EQ(AttemptsNote(J(R"([{"target":"a","attempt":1,"outcome":"ok"}])").as_array()), "");
  EXPECT_EQ(AttemptsNote(J(R"([])").as_array()), "");
  EXPECT_EQ(AttemptsNote(
                J(R"([{"target":"t","attempt":1,"outcome":"retry","error":"timed out after 30 ms"},
                               {"target":"t","attempt":2,"outcome":"ok"}])")
                    .as_array()),
            "after 1 retry (timed out after 30 ms)");
  // Different reasons are listed once each; a fallback for a new reason says it.
  EXPECT_EQ(AttemptsNote(J(R"([{"target":"a","attempt":1,"outcome":"retry","http_status":503},
                               {"target":"a","attempt":2,"outcome":"retry","http_status":429},
                               {"target":"a","attempt":3,"outcome":"fallback","error":"connection reset"},
                               {"target":"b","attempt":1,"outcome":"retry","http_status":503},
                               {"target":"b","attempt":2,"outcome":"ok"}])")
                             .as_array()),
            "after 2 retries (HTTP 503, HTTP 429), fell back from a (connection reset) to b, "
            "after 1 retry (HTTP 503) on b");
  // A last target whose breaker is open is skipped.
  EXPECT_EQ(AttemptsNote(J(R"([{"target":"a","attempt":1,"outcome":"breaker_open"}])").as_array()),
            "skipped a (breaker open)");
}

TEST(SameJsonTest, IgnoresKeyOrderAndNumberType) {
  EXPECT_TRUE(SameJson(J(R"({"a":1,"b":[2.0,"x"]})"), J(R"({"b":[2,"x"],"a":1.0})")));
  EXPECT_FALSE(SameJson(J(R"({"a":1})"), J(R"({"a":1,"b":2})")));
  EXPECT_FALSE(SameJson(J(R"({"a":1})"), J(R"({"b":1})")));
  EXPECT_FALSE(SameJson(J(R"([1,2])"), J(R"([2,1])")));
  EXPECT_FALSE(SameJson(J("1"), J("\"1\"")));
  EXPECT_FALSE(SameJson(J("1.5"), J("1")));
  EXPECT_TRUE(SameJson(J("null"), J("null")));
}

}  // namespace
}  // namespace keel::cli
