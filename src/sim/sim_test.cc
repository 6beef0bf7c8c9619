// Unit tests of the simulator's pure parts: scenario rules and templates, the default echo
// behaviour, token counting, fault selection, fingerprints, the wire formats and the effect
// ledger.

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "sim/anthropic.h"
#include "sim/effects.h"
#include "sim/faults.h"
#include "sim/json_util.h"
#include "sim/openai.h"
#include "sim/scenario.h"
#include "sim/scenario_file.h"
#include "sim/simulator.h"
#include "sim/stats.h"
#include "sim/text_split.h"
#include "sim/tools.h"

namespace keel::sim {
namespace {

namespace json = boost::json;

json::value J(std::string_view text) {
  auto v = ParseJson(text);
  EXPECT_TRUE(v.ok()) << text;
  return v.ok() ? *v : json::value();
}

Scenario MustScenario(std::string_view text) {
  auto s = ParseScenario(J(text));
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? std::move(*s) : Scenario{};
}

std::string ScenarioError(std::string_view text) {
  auto s = ParseScenario(J(text));
  return s.ok() ? "<parsed>" : s.error().message;
}

ChatRequest OpenAi(std::string_view body) {
  auto r = ParseOpenAiRequest(J(body));
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::move(*r) : ChatRequest{};
}

Completion Answer(const Scenario& s, const ChatRequest& req) {
  auto c = Respond(s, req);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.ok() ? std::move(*c) : Completion{};
}

ChatRequest User(const std::string& text, const std::string& model = "sim-large") {
  ChatRequest r;
  r.model = model;
  r.messages.push_back(Message{"user", text, {}, "", ""});
  return r;
}

// --- scenarios -------------------------------------------------------------------------------

TEST(ScenarioTest, FirstMatchingRuleWinsAndEveryConditionMustHold) {
  Scenario s = MustScenario(R"({"rules": [
    {"when": {"model": "sim-small", "last_user_contains": "weather"}, "reply": {"content": "small"}},
    {"when": {"last_user_contains": "weather", "has_tool": "get_weather"},
     "reply": {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]}},
    {"when": {"last_user_contains": "weather"}, "reply": {"content": "no tool offered"}}
  ]})");
  ChatRequest req = User("what is the weather?");
  EXPECT_EQ(Answer(s, req).content, "no tool offered");
  req.tools = {"get_weather"};
  Completion c = Answer(s, req);
  ASSERT_EQ(c.tool_calls.size(), 1u);
  EXPECT_EQ(c.tool_calls[0].name, "get_weather");
  EXPECT_EQ(c.tool_calls[0].arguments, R"({"city":"Oslo"})");
  EXPECT_EQ(c.finish_reason, "tool_calls");
  req.model = "sim-small";
  EXPECT_EQ(Answer(s, req).content, "small");
  EXPECT_EQ(Answer(s, User("hello")).content, "echo: hello");  // no rule: default echo
}

TEST(ScenarioTest, ToolConditionsAndTurn) {
  Scenario s = MustScenario(R"({"rules": [
    {"when": {"last_role": "tool", "tool_name": "get_weather", "tool_result_contains": "rain"},
     "reply": {"content": "Take an umbrella: {{tool_result}}"}},
    {"when": {"turn": 2}, "reply": {"content": "second turn"}}
  ]})");
  ChatRequest req = OpenAi(R"({"model": "m", "messages": [
    {"role": "user", "content": "weather?"},
    {"role": "assistant", "content": null, "tool_calls": [
      {"id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "call_9", "content": "rain, 4C"}]})");
  ASSERT_EQ(req.messages[2].tool_name, "get_weather");
  EXPECT_EQ(Answer(s, req).content, "Take an umbrella: rain, 4C");
  req.messages[2].text = "sunny";
  EXPECT_EQ(Answer(s, req).content, "second turn");  // turn = 1 assistant message + 1
  req.messages[2].tool_name = "other";
  req.messages[2].text = "rain";
  EXPECT_EQ(Answer(s, req).content, "second turn");
}

TEST(ScenarioTest, RepeatFalseAnswersOncePerConversation) {
  Scenario s = MustScenario(R"({"rules": [
    {"when": {"last_user_contains": "weather"}, "repeat": false,
     "reply": {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]}},
    {"when": {"last_user_contains": "loop"},
     "reply": {"tool_calls": [{"name": "echo", "arguments": {"x": 1}}]}}
  ]})");
  auto conversation = [](const std::string& first) {
    ChatRequest r = User(first);
    r.messages.push_back(Message{"assistant", "", {ToolCall{"c1", "get_weather", "{}"}}, "", ""});
    r.messages.push_back(Message{"tool", "4C", {}, "c1", "get_weather"});
    return r;
  };
  // The weather rule answered turn 1, so turn 2 falls through to the default.
  EXPECT_EQ(Answer(s, conversation("weather please")).content, "Result: 4C");
  EXPECT_EQ(Answer(s, User("weather please")).tool_calls.size(), 1u);
  // Rules repeat by default: the loop rule answers every turn.
  Completion again = Answer(s, conversation("loop"));
  ASSERT_EQ(again.tool_calls.size(), 1u);
  EXPECT_EQ(again.tool_calls[0].name, "echo");
}

TEST(ScenarioTest, TemplatesExpandEveryPlaceholder) {
  ChatRequest req = User("hi there", "sim-small");
  req.messages.push_back(Message{"assistant", "x", {}, "", ""});
  req.messages.push_back(Message{"tool", "42", {}, "c", "add"});
  ConversationFacts f = FactsOf(req.messages, req.messages.size());
  EXPECT_EQ(ExpandTemplate("{{last_user}}|{{tool_result}}|{{model}}|{{turn}}|{{x", req, f),
            "hi there|42|sim-small|2|{{x");
  Scenario s = MustScenario(R"({"rules": [{"reply": {"content": "T{{turn}}",
    "tool_calls": [{"name": "echo", "arguments": {"said": "{{last_user}}"}}]}}]})");
  Completion c = Answer(s, User("yo"));
  EXPECT_EQ(c.content, "T1");
  EXPECT_EQ(c.tool_calls[0].arguments, R"({"said":"yo"})");
}

TEST(ScenarioTest, ParseErrorsNameTheKey) {
  EXPECT_EQ(ScenarioError(R"({"rules": [{"when": {"turnx": 1}, "reply": {}}]})")
                .rfind("rules[0].when.turnx: unknown key", 0),
            0u);
  EXPECT_EQ(ScenarioError(R"({"rules": [{"reply": {"content": "{{who}}"}}]})"),
            "rules[0].reply.content: unknown placeholder {{who}} (known: {{last_user}}, "
            "{{tool_result}}, {{model}}, {{turn}})");
  EXPECT_EQ(ScenarioError(R"({"rules": [{"when": {}}]})"), "rules[0].reply: missing");
  EXPECT_EQ(ScenarioError(R"({"rules": [{"when": {"turn": "2"}, "reply": {}}]})"),
            "rules[0].when.turn: must be an integer");
  EXPECT_EQ(ScenarioError(R"({"rules": [{"reply": {"tool_calls": [{"arguments": {}}]}}]})"),
            "rules[0].reply.tool_calls[0].name: missing");
  EXPECT_EQ(ScenarioError(R"({"default": "nope"})"),
            "default: must be \"echo\", \"error\" or a reply object");
  EXPECT_EQ(ScenarioError(R"({"faults": {"*": {"fail_nxt": 1}}})")
                .rfind("faults.*.fail_nxt: unknown key", 0),
            0u);
  EXPECT_EQ(ScenarioError(R"({"faults": {"m": {"error_rate": 2}}})"),
            "faults.m.error_rate: must be a number between 0 and 1");
  EXPECT_EQ(ScenarioError(R"({"rule": []})").rfind("scenario.rule: unknown key", 0), 0u);
}

TEST(ScenarioTest, DefaultErrorAndDefaultReply) {
  Scenario err = MustScenario(R"({"default": "error"})");
  auto r = Respond(err, User("x"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("no scenario rule matched"), std::string::npos);
  Scenario fixed = MustScenario(R"({"default": {"content": "fixed {{model}}"}})");
  EXPECT_EQ(Answer(fixed, User("x", "sim-small")).content, "fixed sim-small");
}

TEST(ScenarioTest, TomlScenarioHasTheSameStructure) {
  auto v = TomlToJson(R"(
default = "echo"
[[rules]]
when = { last_user_contains = "weather", turn = 1 }
reply = { tool_calls = [ { name = "get_weather", arguments = { city = "Oslo" } } ] }
[faults."*"]
fail_next = 2
retry_after = "2s"
)",
                      "test.toml");
  ASSERT_TRUE(v.ok()) << v.error().message;
  auto s = ParseScenario(*v);
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_EQ(s->rules.size(), 1u);
  EXPECT_EQ(*s->rules[0].when.turn, 1);
  EXPECT_EQ(s->rules[0].reply.tool_calls[0].name, "get_weather");
  ASSERT_TRUE(s->faults.has_value());
  EXPECT_EQ(s->faults->ToJson().at("*").at("fail_next").as_int64(), 2);
  EXPECT_EQ(s->faults->ToJson().at("*").at("retry_after").as_string(), "2000ms");
  auto bad = TomlToJson("[[rules]\n", "bad.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message.rfind("bad.toml:1:", 0), 0u);
}

// --- default behaviour -----------------------------------------------------------------------

TEST(DefaultTest, EchoToolDirectiveAndResult) {
  Scenario s;
  EXPECT_EQ(Answer(s, User("hello")).content, "echo: hello");
  ChatRequest req = User(R"(please tool:get_weather {"city":"Oslo"} and tool:add)");
  req.tools = {"get_weather"};  // add is not offered: not called
  Completion c = Answer(s, req);
  ASSERT_EQ(c.tool_calls.size(), 1u);
  EXPECT_EQ(c.tool_calls[0].name, "get_weather");
  EXPECT_EQ(c.tool_calls[0].arguments, R"({"city":"Oslo"})");
  EXPECT_EQ(c.content, "");
  EXPECT_EQ(c.finish_reason, "tool_calls");
  req.tools = {"get_weather", "add"};
  c = Answer(s, req);
  ASSERT_EQ(c.tool_calls.size(), 2u);
  EXPECT_EQ(c.tool_calls[1].arguments, "{}");
  req.tools = {};
  EXPECT_EQ(Answer(s, req).content.rfind("echo: please tool:", 0), 0u);
  req.messages.push_back(Message{"assistant", "", {ToolCall{"c", "get_weather", "{}"}}, "", ""});
  req.messages.push_back(Message{"tool", "sunny", {}, "c", "get_weather"});
  EXPECT_EQ(Answer(s, req).content, "Result: sunny");
}

// --- tokens ----------------------------------------------------------------------------------

TEST(TokensTest, CeilOfCharactersOverFour) {
  EXPECT_EQ(TokensForChars(0), 0);
  EXPECT_EQ(TokensForChars(1), 1);
  EXPECT_EQ(TokensForChars(4), 1);
  EXPECT_EQ(TokensForChars(5), 2);
  EXPECT_EQ(CountChars("h\xC3\xA9llo"), 5);  // é is one character
  EXPECT_EQ(TruncateChars("h\xC3\xA9llo", 2), "h\xC3\xA9");
  Scenario s;
  Completion c = Answer(s, User("12345678"));  // 8 chars in; "echo: 12345678" is 14 out
  EXPECT_EQ(c.input_tokens, 2);
  EXPECT_EQ(c.output_tokens, 4);
}

TEST(TokensTest, MaxTokensTruncatesAndUsageOverrides) {
  Scenario s;
  ChatRequest req = User("a long message that will not fit");
  req.max_tokens = 2;
  Completion c = Answer(s, req);
  EXPECT_EQ(c.content, "echo: a ");
  EXPECT_EQ(c.finish_reason, "length");
  EXPECT_EQ(c.output_tokens, 2);
  Scenario o = MustScenario(R"({"rules": [{"reply": {"content": "x",
    "usage": {"input_tokens": 100, "output_tokens": 7}, "finish_reason": "end_turn"}}]})");
  c = Answer(o, User("y"));
  EXPECT_EQ(c.input_tokens, 100);
  EXPECT_EQ(c.output_tokens, 7);
  EXPECT_EQ(c.finish_reason, "stop");  // Anthropic names map to the OpenAI vocabulary
}

// --- faults ----------------------------------------------------------------------------------

FaultTable Faults(std::string_view text) {
  auto t = FaultTable::Parse(J(text));
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
  return t.ok() ? std::move(*t) : FaultTable{};
}

TEST(FaultsTest, MostSpecificKeyWinsAndCountersCountDown) {
  Random rng(1);
  FaultTable t =
      Faults(R"({"*": {"outage": true}, "sim-large": {"fail_next": 2, "fail_status": 500},
                             "tool:echo": {"rate_limit_next": 1, "retry_after": "3s"}})");
  EXPECT_EQ(t.Decide({"other", "*"}, rng).kind, FaultKind::kOutage);
  FaultDecision d = t.Decide({"sim-large", "*"}, rng);
  EXPECT_EQ(d.kind, FaultKind::kFailNext);
  EXPECT_EQ(d.status, 500);
  EXPECT_EQ(t.Decide({"sim-large", "*"}, rng).kind, FaultKind::kFailNext);
  // The model's own key still wins once its counter is spent: "*" does not apply to it.
  EXPECT_EQ(t.Decide({"sim-large", "*"}, rng).kind, FaultKind::kNone);
  EXPECT_EQ(t.ToJson().at("sim-large").at("fail_next").as_int64(), 0);
  d = t.Decide({"tool:echo", "tool:*"}, rng);
  EXPECT_EQ(d.kind, FaultKind::kRateLimitNext);
  EXPECT_EQ(d.status, 429);
  EXPECT_EQ(d.retry_after_ms, 3000);
  EXPECT_EQ(t.Decide({"tool:echo", "tool:*"}, rng).kind, FaultKind::kNone);
  EXPECT_EQ(t.Decide({"tool:add", "tool:*"}, rng).kind, FaultKind::kNone);
}

TEST(FaultsTest, RatesOfZeroAndOneAreDeterministicAndOthersFollowTheSeed) {
  Random rng(1);
  FaultTable t = Faults(R"({"a": {"error_rate": 1, "error_status": [502]},
                             "b": {"error_rate": 0, "reset_rate": 1},
                             "c": {"bad_tool_args_rate": 1, "omit_usage": true, "latency": "5ms"},
                             "d": {"spend_limit": true}})");
  FaultDecision d = t.Decide({"a"}, rng);
  EXPECT_EQ(d.kind, FaultKind::kError);
  EXPECT_EQ(d.status, 502);
  EXPECT_EQ(t.Decide({"b"}, rng).kind, FaultKind::kReset);
  d = t.Decide({"c"}, rng);
  EXPECT_EQ(d.kind, FaultKind::kNone);
  EXPECT_TRUE(d.bad_tool_args);
  EXPECT_TRUE(d.omit_usage);
  EXPECT_EQ(d.latency_ms, 5);
  EXPECT_EQ(t.Decide({"d"}, rng).kind, FaultKind::kSpendLimit);

  auto run = [](uint64_t seed) {
    Random r(seed);
    FaultTable half = Faults(R"({"*": {"error_rate": 0.5}})");
    std::string seq;
    for (int i = 0; i < 64; ++i) seq += half.Decide({"*"}, r).kind == FaultKind::kError ? '1' : '0';
    return seq;
  };
  EXPECT_EQ(run(7), run(7));
  EXPECT_NE(run(7), run(8));
  std::string s = run(7);
  EXPECT_NE(s.find('1'), std::string::npos);
  EXPECT_NE(s.find('0'), std::string::npos);
}

TEST(FaultsTest, ParseErrors) {
  auto err = [](std::string_view text) {
    auto t = FaultTable::Parse(J(text));
    return t.ok() ? std::string("<parsed>") : t.error().message;
  };
  EXPECT_EQ(err(R"({"*": {"fail_status": 200}})"),
            "faults.*.fail_status: must be an HTTP error status (400-599)");
  EXPECT_EQ(err(R"({"*": {"latency": "soon"}})").rfind("faults.*.latency: ", 0), 0u);
  EXPECT_EQ(err(R"({"*": {"fail_next": -1}})"), "faults.*.fail_next: must not be negative");
  EXPECT_EQ(err(R"({"*": {"error_status": []}})"),
            "faults.*.error_status: must list at least one status");
  EXPECT_EQ(err(R"([])"), "faults: must be an object");
}

TEST(FaultsTest, BadToolArgsVariants) {
  EXPECT_FALSE(ParseJson(InvalidJsonArguments(R"({"city":"Oslo"})")).ok());
  EXPECT_FALSE(ParseJson(InvalidJsonArguments("{}")).ok());
  auto schema = ParseJson(SchemaBreakingArguments(R"({"city":"Oslo","n":1})"));
  ASSERT_TRUE(schema.ok());
  EXPECT_TRUE(schema->at("city").is_int64());
  EXPECT_TRUE(schema->at("n").is_string());
}

// --- fingerprints ----------------------------------------------------------------------------

TEST(FingerprintTest, IgnoresKeyOrderWhitespaceAndStreaming) {
  EXPECT_EQ(CanonicalJson(J(R"({"b": 1, "a": {"d": [1, {"z": 0, "y": 1}], "c": null}})")),
            R"({"a":{"c":null,"d":[1,{"y":1,"z":0}]},"b":1})");
  ChatRequest a = OpenAi(R"({"model": "m", "messages": [{"role": "user", "content": "hi"}]})");
  ChatRequest b = OpenAi(
      R"({"stream": true, "messages": [{"content": "hi", "role": "user"}],   "model": "m"})");
  ChatRequest c = OpenAi(R"({"model": "m", "messages": [{"role": "user", "content": "hi!"}]})");
  EXPECT_EQ(a.fingerprint.size(), 16u);
  EXPECT_EQ(a.fingerprint, b.fingerprint);
  EXPECT_NE(a.fingerprint, c.fingerprint);
}

// --- wire formats ----------------------------------------------------------------------------

TEST(OpenAiTest, ParsesContentPartsAndReportsTheBadParameter) {
  ChatRequest r = OpenAi(R"({"model": "m", "max_completion_tokens": 9,
    "stream": true, "stream_options": {"include_usage": true},
    "tools": [{"type": "function", "function": {"name": "echo", "parameters": {}}}],
    "messages": [{"role": "developer", "content": "be brief"},
                 {"role": "user", "content": [{"type": "text", "text": "a"},
                                              {"type": "image_url", "image_url": {"url": "x"}},
                                              {"type": "text", "text": "b"}]}]})");
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[1].text, "a\nb");
  EXPECT_EQ(r.max_tokens, 9);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.tools, std::vector<std::string>{"echo"});
  auto err = [](std::string_view body) {
    auto p = ParseOpenAiRequest(J(body));
    return p.ok() ? std::string("<parsed>") : p.error().message;
  };
  EXPECT_EQ(err(R"({"messages": []})"), "you must provide a model parameter");
  EXPECT_NE(err(R"({"model": "m", "messages": []})").find("'messages'"), std::string::npos);
  EXPECT_NE(err(R"({"model": "m", "messages": [{"role": "tool", "content": "x"}]})")
                .find("messages[0].tool_call_id"),
            std::string::npos);
  EXPECT_NE(
      err(R"({"model": "m", "messages": [{"role": "robot", "content": "x"}]})").find("'robot'"),
      std::string::npos);
}

TEST(OpenAiTest, StreamDeltasAddUpToTheAnswer) {
  Completion c;
  c.id = "chatcmpl-1";
  c.model = "m";
  c.content = "It is sunny in Oslo today";
  c.tool_calls = {ToolCall{"call_1", "get_weather", R"({"city":"Oslo","unit":"celsius"})"}};
  c.finish_reason = "tool_calls";
  c.input_tokens = 3;
  c.output_tokens = 4;
  std::vector<std::string> frames = OpenAiStream(c, true);
  ASSERT_GE(frames.size(), 6u);
  EXPECT_EQ(frames.back(), "data: [DONE]\n\n");
  std::string content, args;
  std::string finish;
  int content_pieces = 0;
  for (size_t i = 0; i + 1 < frames.size(); ++i) {
    ASSERT_EQ(frames[i].rfind("data: ", 0), 0u);
    json::value chunk = J(frames[i].substr(6));
    EXPECT_EQ(chunk.at("object").as_string(), "chat.completion.chunk");
    const json::array& choices = chunk.at("choices").as_array();
    if (i == 0) {
      EXPECT_EQ(choices[0].at("delta").at("role").as_string(), "assistant");
    }
    if (choices.empty()) {  // the usage chunk comes last
      EXPECT_EQ(i + 2, frames.size());
      EXPECT_EQ(chunk.at("usage").at("total_tokens").as_int64(), 7);
      continue;
    }
    EXPECT_TRUE(chunk.at("usage").is_null());
    const json::object& delta = choices[0].at("delta").as_object();
    if (auto* t = delta.if_contains("content")) {
      content += t->as_string();
      ++content_pieces;
    }
    if (auto* tc = delta.if_contains("tool_calls")) {
      const json::object& call = tc->as_array()[0].as_object();
      EXPECT_EQ(call.at("index").as_int64(), 0);
      args += call.at("function").at("arguments").as_string();
    }
    if (!choices[0].at("finish_reason").is_null())
      finish = choices[0].at("finish_reason").as_string();
  }
  EXPECT_EQ(content, c.content);
  EXPECT_GT(content_pieces, 3);
  EXPECT_EQ(args, c.tool_calls[0].arguments);
  EXPECT_EQ(finish, "tool_calls");

  json::value body = J(OpenAiBody(c));
  EXPECT_EQ(body.at("object").as_string(), "chat.completion");
  EXPECT_EQ(body.at("choices").at(0).at("message").at("tool_calls").at(0).at("id").as_string(),
            "call_1");
  EXPECT_EQ(body.at("usage").at("prompt_tokens").as_int64(), 3);
  c.omit_usage = true;
  EXPECT_FALSE(J(OpenAiBody(c)).as_object().contains("usage"));
}

TEST(AnthropicTest, ToolResultsBecomeToolMessages) {
  auto r = ParseAnthropicRequest(J(R"({"model": "m", "max_tokens": 50,
    "system": [{"type": "text", "text": "sys"}],
    "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
    "messages": [
      {"role": "user", "content": "weather?"},
      {"role": "assistant", "content": [{"type": "text", "text": "checking"},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}]},
      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                    "content": [{"type": "text", "text": "rain"}]}]}]})"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->messages.size(), 4u);
  EXPECT_EQ(r->messages[0].role, "system");
  EXPECT_EQ(r->messages[2].tool_calls[0].arguments, R"({"city":"Oslo"})");
  EXPECT_EQ(r->messages[3].role, "tool");
  EXPECT_EQ(r->messages[3].text, "rain");
  EXPECT_EQ(r->messages[3].tool_name, "get_weather");
  auto missing = ParseAnthropicRequest(J(R"({"model": "m", "messages": []})"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "max_tokens: Field required");
}

TEST(AnthropicTest, StreamEventsInOrder) {
  Completion c;
  c.id = "msg_1";
  c.model = "m";
  c.content = "Let me check";
  c.tool_calls = {ToolCall{"toolu_1", "get_weather", R"({"city":"Oslo"})"}};
  c.finish_reason = "tool_calls";
  c.output_tokens = 5;
  std::vector<std::string> types;
  std::string text, partial;
  for (const auto& frame : AnthropicStream(c)) {
    size_t nl = frame.find('\n');
    ASSERT_EQ(frame.rfind("event: ", 0), 0u);
    std::string type = frame.substr(7, nl - 7);
    json::value data = J(frame.substr(nl + 7));
    EXPECT_EQ(data.at("type").as_string(), type);
    if (types.empty() || types.back() != type) types.push_back(type);
    if (type == "content_block_delta") {
      const auto& d = data.at("delta");
      if (d.at("type") == "text_delta")
        text += d.at("text").as_string();
      else
        partial += d.at("partial_json").as_string();
    }
    if (type == "message_delta") {
      EXPECT_EQ(data.at("delta").at("stop_reason").as_string(), "tool_use");
      EXPECT_EQ(data.at("usage").at("output_tokens").as_int64(), 5);
    }
  }
  EXPECT_EQ(types, (std::vector<std::string>{
                       "message_start", "ping", "content_block_start", "content_block_delta",
                       "content_block_stop", "content_block_start", "content_block_delta",
                       "content_block_stop", "message_delta", "message_stop"}));
  EXPECT_EQ(text, c.content);
  EXPECT_EQ(partial, c.tool_calls[0].arguments);
  json::value body = J(AnthropicBody(c));
  EXPECT_EQ(body.at("stop_reason").as_string(), "tool_use");
  EXPECT_EQ(body.at("content").at(1).at("input").at("city").as_string(), "Oslo");
}

TEST(ErrorsTest, ProviderShapes) {
  EXPECT_EQ(J(AnthropicError(529, "busy")).at("error").at("type").as_string(), "overloaded_error");
  EXPECT_EQ(J(AnthropicError(429, "slow")).at("error").at("type").as_string(), "rate_limit_error");
  EXPECT_EQ(J(AnthropicError(500, "x")).at("error").at("type").as_string(), "api_error");
  EXPECT_EQ(J(AnthropicError(401, "x")).at("error").at("type").as_string(), "authentication_error");
  EXPECT_EQ(J(AnthropicSpendLimit()).at("error").at("type").as_string(), "invalid_request_error");
  EXPECT_EQ(J(OpenAiSpendLimit()).at("error").at("code").as_string(), "insufficient_quota");
  EXPECT_EQ(J(OpenAiError(429, "x")).at("error").at("code").as_string(), "rate_limit_exceeded");
}

// --- pieces, tools, stats --------------------------------------------------------------------

TEST(SplitTest, PiecesConcatenateBack) {
  EXPECT_EQ(SplitWords("echo: hi  there"), (std::vector<std::string>{"echo:", " hi", "  there"}));
  EXPECT_TRUE(SplitWords("").empty());
  std::string text = "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9";  // 5 x é (2 bytes each)
  std::string joined;
  for (const auto& p : SplitBytes(text, 3)) {
    EXPECT_EQ(CountChars(p) * 2, static_cast<int64_t>(p.size()));  // never a cut character
    joined += p;
  }
  EXPECT_EQ(joined, text);
}

TEST(ToolsTest, BuiltInTools) {
  ToolOutcome w1 = RunTool("get_weather", J(R"({"city": "Oslo"})").as_object());
  ToolOutcome w2 = RunTool("get_weather", J(R"({"city": "Oslo"})").as_object());
  EXPECT_EQ(w1.status, 200);
  EXPECT_EQ(json::serialize(w1.body), json::serialize(w2.body));
  EXPECT_EQ(w1.body.at("city").as_string(), "Oslo");
  EXPECT_EQ(RunTool("get_weather", {}).status, 400);
  EXPECT_EQ(RunTool("add", J(R"({"a": 2, "b": 3})").as_object()).body.at("sum").as_int64(), 5);
  EXPECT_EQ(RunTool("add", J(R"({"a": "2"})").as_object()).status, 400);
  EXPECT_EQ(RunTool("big", J(R"({"bytes": 1000})").as_object()).body.at("data").as_string().size(),
            1000u);
  EXPECT_EQ(RunTool("sleep", J(R"({"ms": 25})").as_object()).sleep_ms, 25);
  EXPECT_EQ(json::serialize(RunTool("echo", J(R"({"x": 1})").as_object()).body),
            R"({"echo":{"x":1}})");
  EXPECT_EQ(json::serialize(RunTool("lookup", J(R"({"q": "a"})").as_object()).body),
            R"({"tool":"lookup","args":{"q":"a"}})");
}

TEST(SimulatorTest, AccountsModelsToolsAndKeys) {
  Simulator sim(SimOptions{}, Scenario{});
  ASSERT_TRUE(sim.SetFaults(J(R"({"sim-large": {"fail_next": 1}})")).ok());
  ChatRequest req = User("hi");
  req.fingerprint = "f";
  ChatPlan failed = sim.PlanChat(req, "");
  EXPECT_EQ(failed.fault.kind, FaultKind::kFailNext);
  ChatPlan ok = sim.PlanChat(req, "");
  EXPECT_EQ(ok.fault.kind, FaultKind::kNone);
  EXPECT_EQ(ok.completion.id.rfind("chatcmpl-", 0), 0u);
  ToolPlan t1 = sim.PlanTool("echo", R"({"a": 1})", "k", "00-tp-01");
  ToolPlan t2 = sim.PlanTool("echo", R"({"a": 1})", "k", "");
  EXPECT_EQ(t2.body.at("call_id").as_int64(), t1.body.at("call_id").as_int64() + 1);
  EXPECT_EQ(sim.PlanTool("echo", "not json", "", "").status, 400);

  json::object stats = sim.StatsJson();
  EXPECT_EQ(stats.at("requests_total").as_int64(), 5);
  EXPECT_EQ(stats.at("models").at("sim-large").at("by_status").at("503").as_int64(), 1);
  EXPECT_EQ(stats.at("models").at("sim-large").at("by_status").at("200").as_int64(), 1);
  const json::value& echo = stats.at("tools").at("echo");
  EXPECT_EQ(echo.at("requests").as_int64(), 3);
  EXPECT_EQ(echo.at("keys").at("k").at("count").as_int64(), 2);
  EXPECT_EQ(echo.at("keys").at("k").at("call_ids").as_array().size(), 2u);
  EXPECT_EQ(echo.at("last_traceparent").as_string(), "00-tp-01");
  json::array reqs = sim.RequestsJson();
  ASSERT_EQ(reqs.size(), 5u);
  EXPECT_EQ(reqs[0].at("fault").as_string(), "fail_next");
  EXPECT_EQ(reqs[0].at("response_id").as_string(), "");
  EXPECT_EQ(reqs[1].at("response_id").as_string(), ok.completion.id);
  EXPECT_EQ(reqs[2].at("fingerprint"), reqs[3].at("fingerprint"));
  sim.Reset();
  EXPECT_EQ(sim.StatsJson().at("requests_total").as_int64(), 0);
  EXPECT_TRUE(sim.RequestsJson().empty());
}

TEST(EffectLedgerTest, HonourAppliesOncePerKeyAndReplaysTheStoredResponse) {
  EffectLedger ledger;
  json::value args = J(R"({"app_id": "A-1", "amount": 5})");
  ledger.CountRequest("run:4");
  EffectOutcome first = ledger.Apply(EffectMode::kHonour, "file_loan", args, "run:4", 1000);
  ASSERT_EQ(first.status, 200);
  EXPECT_FALSE(first.replay);
  EXPECT_EQ(first.effect_id, 1);
  EXPECT_EQ(
      json::serialize(first.body),
      R"({"effect_id":1,"mode":"honour","name":"file_loan","args":{"app_id":"A-1","amount":5},"idempotency_key":"run:4"})");
  // The same request again, with its keys in another order: nothing applied, same answer.
  ledger.CountRequest("run:4");
  EffectOutcome again = ledger.Apply(EffectMode::kHonour, "file_loan",
                                     J(R"({"amount": 5, "app_id": "A-1"})"), "run:4", 2000);
  EXPECT_EQ(again.status, 200);
  EXPECT_TRUE(again.replay);
  EXPECT_EQ(again.effect_id, 1);
  EXPECT_EQ(again.body, first.body);

  json::object j = ledger.ToJson();
  ASSERT_EQ(j.at("effects").as_array().size(), 1u);
  EXPECT_EQ(j.at("effects").as_array()[0].at("at_ms").as_int64(), 1000);
  EXPECT_EQ(j.at("effects").as_array()[0].at("mode").as_string(), "honour");
  EXPECT_EQ(j.at("requests_by_key").at("run:4").as_int64(), 2);
  EXPECT_EQ(j.at("applied_by_key").at("run:4").as_int64(), 1);
}

TEST(EffectLedgerTest, HonourRefusesAMissingKeyAndAKeyReusedForAnotherRequest) {
  EffectLedger ledger;
  EffectOutcome no_key = ledger.Apply(EffectMode::kHonour, "pay", J("{}"), "", 0);
  EXPECT_EQ(no_key.status, 400);
  EXPECT_NE(json::serialize(no_key.body).find("Idempotency-Key header is required"),
            std::string::npos);
  ASSERT_EQ(ledger.Apply(EffectMode::kHonour, "pay", J(R"({"n": 1})"), "k", 0).status, 200);
  EffectOutcome other_args = ledger.Apply(EffectMode::kHonour, "pay", J(R"({"n": 2})"), "k", 0);
  EXPECT_EQ(other_args.status, 422);
  EXPECT_NE(json::serialize(other_args.body).find("other arguments (effect 1)"), std::string::npos)
      << json::serialize(other_args.body);
  EffectOutcome other_name = ledger.Apply(EffectMode::kHonour, "refund", J(R"({"n": 1})"), "k", 0);
  EXPECT_EQ(other_name.status, 422);
  EXPECT_NE(json::serialize(other_name.body).find("the effect \\\"pay\\\""), std::string::npos)
      << json::serialize(other_name.body);
  EXPECT_EQ(ledger.ToJson().at("effects").as_array().size(), 1u);
}

TEST(EffectLedgerTest, NaiveAppliesEveryRequestAndResetForgets) {
  EffectLedger ledger;
  for (int i = 0; i < 3; ++i) {
    EffectOutcome o = ledger.Apply(EffectMode::kNaive, "email", J(R"({"to": "x"})"), "run:9", i);
    EXPECT_EQ(o.status, 200);
    EXPECT_FALSE(o.replay);
    EXPECT_EQ(o.effect_id, i + 1);
  }
  EffectOutcome keyless = ledger.Apply(EffectMode::kNaive, "email", J("[1, 2]"), "", 3);
  EXPECT_EQ(keyless.status, 200);
  EXPECT_TRUE(keyless.body.at("idempotency_key").is_null());
  json::object j = ledger.ToJson();
  EXPECT_EQ(j.at("applied_by_key").at("run:9").as_int64(), 3);
  EXPECT_EQ(j.at("effects").as_array().size(), 4u);

  ASSERT_EQ(ledger.Apply(EffectMode::kHonour, "pay", J("{}"), "h", 0).effect_id, 5);
  ledger.Reset();
  j = ledger.ToJson();
  EXPECT_TRUE(j.at("effects").as_array().empty());
  EXPECT_TRUE(j.at("applied_by_key").as_object().empty());
  // The honour store is gone too: the key applies again, with a new id.
  EffectOutcome after = ledger.Apply(EffectMode::kHonour, "pay", J("{}"), "h", 0);
  EXPECT_FALSE(after.replay);
  EXPECT_EQ(after.effect_id, 6);
}

TEST(SimulatorTest, EffectFaultsRefuseOrLoseTheAnswer) {
  FakeClock clock(5000);
  Simulator sim(SimOptions{.clock = &clock}, Scenario{});
  // "tool:*" does not reach effects; "effect:<name>" does.
  ASSERT_TRUE(sim.SetFaults(J(R"({"tool:*": {"outage": true},
                                   "effect:pay": {"fail_next": 1, "fail_status": 503}})"))
                  .ok());
  EffectPlan refused = sim.PlanEffect(EffectMode::kHonour, "pay", "{}", "k");
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(refused.fault.kind, FaultKind::kFailNext);
  EXPECT_TRUE(sim.EffectsJson().at("effects").as_array().empty());  // refused: nothing applied
  // The answer is lost (connection reset), yet the effect took place.
  ASSERT_TRUE(sim.SetFaults(J(R"({"effect:*": {"reset_rate": 1}})")).ok());
  EffectPlan lost = sim.PlanEffect(EffectMode::kHonour, "pay", "{}", "k");
  EXPECT_EQ(lost.fault.kind, FaultKind::kReset);
  EXPECT_EQ(sim.Models(), (std::vector<std::string>{"sim-large", "sim-small"}));
  ASSERT_TRUE(sim.SetFaults(J("{}")).ok());
  EffectPlan replayed = sim.PlanEffect(EffectMode::kHonour, "pay", "{}", "k");
  EXPECT_TRUE(replayed.replay);
  EXPECT_EQ(sim.PlanEffect(EffectMode::kNaive, "pay", "not json", "").status, 400);

  json::object effects = sim.EffectsJson();
  ASSERT_EQ(effects.at("effects").as_array().size(), 1u);
  EXPECT_EQ(effects.at("effects").as_array()[0].at("at_ms").as_int64(), 5000);
  EXPECT_EQ(effects.at("requests_by_key").at("k").as_int64(), 3);
  EXPECT_EQ(effects.at("applied_by_key").at("k").as_int64(), 1);
  json::array reqs = sim.RequestsJson();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[0].at("api").as_string(), "effect");
  EXPECT_EQ(reqs[0].at("model").as_string(), "honour/pay");
  EXPECT_EQ(reqs[0].at("status").as_int64(), 503);
  EXPECT_EQ(reqs[1].at("status").as_int64(), 0);  // reset: no answer went out
  EXPECT_EQ(reqs[2].at("response_id").as_string(), "1");
  EXPECT_EQ(reqs[1].at("fingerprint"), reqs[2].at("fingerprint"));
  EXPECT_EQ(sim.StatsJson().at("tools").as_object().size(), 0u);
  EXPECT_FALSE(sim.SetFaults(J(R"({"effect:": {}})")).ok());

  sim.Reset();
  EXPECT_TRUE(sim.EffectsJson().at("requests_by_key").as_object().empty());
}

TEST(StatsTest, KeepsTheMostRecentRecords) {
  Stats stats(3);
  for (int i = 0; i < 5; ++i)
    stats.RecordModel(RequestRecord{0, "openai", "m", "", "", 200, "", ""});
  json::array reqs = stats.RequestsJson();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].at("n").as_int64(), 3);
  EXPECT_EQ(stats.StatsJson().at("requests_total").as_int64(), 5);
}

}  // namespace
}  // namespace keel::sim
