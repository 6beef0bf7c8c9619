#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "gateway/providers/provider.h"

namespace keel::gateway {
namespace {

namespace json = boost::json;

// system + user + assistant tool calls + tool results (one string, one not) + a late system
// message: every translation rule in one conversation.
const char* kConversation = R"({
  "messages": [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Weather in Oslo and Bergen?"},
    {"role": "assistant", "content": "Checking.", "tool_calls": [
      {"id": "call_1", "name": "get_weather", "arguments": {"city": "Oslo"}},
      {"id": "call_2", "name": "get_weather", "arguments": {"city": "Bergen"}}]},
    {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "rain"},
    {"role": "tool", "tool_call_id": "call_2", "name": "get_weather", "content": {"temp": 7}},
    {"role": "system", "content": "Answer in one line."}
  ],
  "tools": [{"name": "get_weather", "description": "Weather for a city",
             "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
  "max_tokens": 256,
  "temperature": 0.2
})";

json::object Conversation() { return json::parse(kConversation).as_object(); }

ProviderConfig Provider(std::string kind, std::string base_url) {
  ProviderConfig p;
  p.name = kind;
  p.kind = std::move(kind);
  p.base_url = std::move(base_url);
  p.api_key = "sk-test";
  return p;
}

std::string HeaderOf(const HttpRequest& r, std::string_view name) {
  std::string found;
  int count = 0;
  for (const auto& [k, v] : r.headers) {
    if (k.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < k.size(); ++i)
      same = same && std::tolower(k[i]) == std::tolower(name[i]);
    if (same) {
      found = v;
      ++count;
    }
  }
  EXPECT_LE(count, 1) << "header " << name << " sent more than once";
  return found;
}

struct Streamed {
  Result<ChatResponse> response = Error{Errc::kInternal, "not run"};
  std::string text;
  std::vector<std::string> pieces;
};

// Feeds `wire` in pieces of `step` bytes (0: all at once).
Streamed RunStream(const ProviderAdapter& adapter, std::string_view wire, size_t step) {
  Streamed out;
  auto acc = adapter.NewStream();
  auto on_text = [&](std::string_view t) {
    out.text += t;
    out.pieces.emplace_back(t);
  };
  if (step == 0) step = wire.size();
  for (size_t i = 0; i < wire.size(); i += step) {
    Status s = acc->Feed(wire.substr(i, step), on_text);
    if (!s.ok()) {
      out.response = s.error();
      return out;
    }
  }
  out.response = acc->Finish();
  return out;
}

void ExpectSameResponse(const ChatResponse& a, const ChatResponse& b) {
  EXPECT_EQ(a.content, b.content);
  ASSERT_EQ(a.tool_calls.size(), b.tool_calls.size());
  for (size_t i = 0; i < a.tool_calls.size(); ++i) {
    EXPECT_EQ(a.tool_calls[i].id, b.tool_calls[i].id);
    EXPECT_EQ(a.tool_calls[i].name, b.tool_calls[i].name);
    EXPECT_EQ(a.tool_calls[i].arguments_json, b.tool_calls[i].arguments_json);
  }
  EXPECT_EQ(a.finish_reason, b.finish_reason);
  EXPECT_EQ(a.usage.input_tokens, b.usage.input_tokens);
  EXPECT_EQ(a.usage.output_tokens, b.usage.output_tokens);
  EXPECT_EQ(a.usage_reported, b.usage_reported);
  EXPECT_EQ(a.provider_model, b.provider_model);
  EXPECT_EQ(a.response_id, b.response_id);
}

// ---------------------------------------------------------------------------------------
// OpenAI

TEST(OpenAiTest, MakeAdapterKnowsBothKinds) {
  EXPECT_NE(MakeAdapter("openai"), nullptr);
  EXPECT_NE(MakeAdapter("anthropic"), nullptr);
  EXPECT_EQ(MakeAdapter("gemini"), nullptr);
  EXPECT_EQ(MakeAdapter(""), nullptr);
}

TEST(OpenAiTest, BuildsTheWireRequest) {
  auto adapter = MakeAdapter("openai");
  ProviderConfig p = Provider("openai", "http://127.0.0.1:8090/v1/");
  p.headers = {{"OpenAI-Organization", "org-1"}};
  HttpRequest r = adapter->BuildRequest(p, "gpt-4o-mini", Conversation(), /*stream=*/false);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "http://127.0.0.1:8090/v1/chat/completions");
  EXPECT_EQ(HeaderOf(r, "content-type"), "application/json");
  EXPECT_EQ(HeaderOf(r, "authorization"), "Bearer sk-test");
  EXPECT_EQ(HeaderOf(r, "openai-organization"), "org-1");
  json::value expected = json::parse(R"({
    "model": "gpt-4o-mini",
    "messages": [
      {"role": "system", "content": "You are terse."},
      {"role": "user", "content": "Weather in Oslo and Bergen?"},
      {"role": "assistant", "content": "Checking.", "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}},
        {"id": "call_2", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\":\"Bergen\"}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "rain"},
      {"role": "tool", "tool_call_id": "call_2", "content": "{\"temp\":7}"},
      {"role": "system", "content": "Answer in one line."}
    ],
    "tools": [{"type": "function", "function": {
      "name": "get_weather", "description": "Weather for a city",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
    "max_tokens": 256,
    "temperature": 0.2
  })");
  EXPECT_EQ(json::parse(r.body), expected) << r.body;
}

TEST(OpenAiTest, StreamingRequestAsksForUsage) {
  auto adapter = MakeAdapter("openai");
  ProviderConfig p = Provider("openai", "http://127.0.0.1:8090/v1");
  p.api_key = "";
  json::object req = json::parse(R"({"messages":[{"role":"user","content":"hi"}]})").as_object();
  HttpRequest r = adapter->BuildRequest(p, "m", req, /*stream=*/true);
  EXPECT_EQ(r.url, "http://127.0.0.1:8090/v1/chat/completions");
  EXPECT_EQ(HeaderOf(r, "authorization"), "");  // no key, no header (local servers)
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"model":"m",
      "messages":[{"role":"user","content":"hi"}],
      "stream":true,"stream_options":{"include_usage":true}})"))
      << r.body;
}

TEST(OpenAiTest, MalformedArgumentsGoBackAsTheModelWroteThem) {
  auto adapter = MakeAdapter("openai");
  json::object req = json::parse(R"({"messages":[{"role":"assistant","content":null,
      "tool_calls":[{"id":"c","name":"f","arguments":{"$raw":"{\"city\": Oslo"}}]}]})")
                         .as_object();
  HttpRequest r = adapter->BuildRequest(Provider("openai", "http://h/v1"), "m", req, false);
  json::value body = json::parse(r.body);
  const json::value& msg = body.at("messages").at(0);
  EXPECT_TRUE(msg.at("content").is_null());
  EXPECT_EQ(msg.at("tool_calls").at(0).at("function").at("arguments"), "{\"city\": Oslo");
}

TEST(OpenAiTest, ParsesATextResponse) {
  auto adapter = MakeAdapter("openai");
  auto r = adapter->ParseResponse(R"({
    "id": "chatcmpl-abc", "object": "chat.completion", "created": 1700000000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Rain in Oslo."},
                 "logprobs": null, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 82, "completion_tokens": 5, "total_tokens": 87}
  })");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->content, "Rain in Oslo.");
  EXPECT_TRUE(r->tool_calls.empty());
  EXPECT_EQ(r->finish_reason, "stop");
  EXPECT_EQ(r->usage.input_tokens, 82);
  EXPECT_EQ(r->usage.output_tokens, 5);
  EXPECT_TRUE(r->usage_reported);
  EXPECT_EQ(r->provider_model, "gpt-4o-mini-2024-07-18");
  EXPECT_EQ(r->response_id, "chatcmpl-abc");
}

TEST(OpenAiTest, ParsesToolCalls) {
  auto adapter = MakeAdapter("openai");
  auto r = adapter->ParseResponse(R"({
    "id": "chatcmpl-t", "model": "gpt-4o",
    "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
      "role": "assistant", "content": null,
      "tool_calls": [{"id": "call_9", "type": "function",
                      "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]}}]
  })");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->content, "");
  ASSERT_EQ(r->tool_calls.size(), 1u);
  EXPECT_EQ(r->tool_calls[0].id, "call_9");
  EXPECT_EQ(r->tool_calls[0].name, "get_weather");
  EXPECT_EQ(r->tool_calls[0].arguments_json, "{\"city\":\"Oslo\"}");
  EXPECT_EQ(r->finish_reason, "tool_calls");
  EXPECT_FALSE(r->usage_reported);  // no usage object: the caller estimates
}

TEST(OpenAiTest, MalformedResponsesNameTheProblem) {
  auto adapter = MakeAdapter("openai");
  auto not_json = adapter->ParseResponse("<html>Bad Gateway</html>");
  ASSERT_FALSE(not_json.ok());
  EXPECT_EQ(not_json.error().code, Errc::kInvalidArgument);
  EXPECT_TRUE(not_json.error().message.starts_with("openai: response is not JSON"))
      << not_json.error().message;
  EXPECT_NE(not_json.error().message.find("<html>Bad Gateway</html>"), std::string::npos);

  auto no_choices = adapter->ParseResponse(R"({"id":"x","choices":[]})");
  ASSERT_FALSE(no_choices.ok());
  EXPECT_NE(no_choices.error().message.find("openai: response has no choices[0].message"),
            std::string::npos)
      << no_choices.error().message;

  // Quoted text is cut: the message stays short however large the body.
  auto huge = adapter->ParseResponse("[" + std::string(100'000, '1'));
  ASSERT_FALSE(huge.ok());
  EXPECT_LT(huge.error().message.size(), 300u) << huge.error().message;
}

// A chat.completion.chunk stream as OpenAI sends it: a role chunk, text, two tool calls in
// pieces, the finish chunk, the usage chunk, [DONE]; with a keep-alive comment.
const char* kOpenAiStream =
    "data: {\"id\":\"chatcmpl-s\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\","
    "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
    "\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"chatcmpl-s\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"content\":\"Let me \"},\"finish_reason\":null}]}\n\n"
    ": keep-alive\n\n"
    "data: {\"id\":\"chatcmpl-s\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"content\":\"check.\"},\"finish_reason\":null}]}\r\n\r\n"
    "data: "
    "{\"id\":\"chatcmpl-s\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
    "\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
    "\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n"
    "data: "
    "{\"id\":\"chatcmpl-s\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
    "\"function\":{\"arguments\":\"{\\\"ci\"}}]},\"finish_reason\":null}]}\n\n"
    "data: "
    "{\"id\":\"chatcmpl-s\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
    "\"function\":{\"arguments\":\"ty\\\":\\\"Oslo\\\"}\"}}]},\"finish_reason\":null}]}\n\n"
    "data: "
    "{\"id\":\"chatcmpl-s\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,"
    "\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"get_time\","
    "\"arguments\":\"{}\"}}]},\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"chatcmpl-s\",\"choices\":[{\"index\":0,\"delta\":{},"
    "\"finish_reason\":\"tool_calls\"}]}\n\n"
    "data: {\"id\":\"chatcmpl-s\",\"choices\":[],\"usage\":{\"prompt_tokens\":31,"
    "\"completion_tokens\":12,\"total_tokens\":43}}\n\n"
    "data: [DONE]\n\n";

TEST(OpenAiTest, AccumulatesAStream) {
  auto adapter = MakeAdapter("openai");
  Streamed s = RunStream(*adapter, kOpenAiStream, 0);
  ASSERT_TRUE(s.response.ok()) << s.response.error().message;
  const ChatResponse& r = *s.response;
  EXPECT_EQ(r.content, "Let me check.");
  EXPECT_EQ(s.text, "Let me check.");
  EXPECT_EQ(s.pieces, (std::vector<std::string>{"Let me ", "check."}));
  ASSERT_EQ(r.tool_calls.size(), 2u);
  EXPECT_EQ(r.tool_calls[0].id, "call_1");
  EXPECT_EQ(r.tool_calls[0].name, "get_weather");
  EXPECT_EQ(r.tool_calls[0].arguments_json, "{\"city\":\"Oslo\"}");
  EXPECT_EQ(r.tool_calls[1].id, "call_2");
  EXPECT_EQ(r.tool_calls[1].name, "get_time");
  EXPECT_EQ(r.tool_calls[1].arguments_json, "{}");
  EXPECT_EQ(r.finish_reason, "tool_calls");
  EXPECT_EQ(r.usage.input_tokens, 31);
  EXPECT_EQ(r.usage.output_tokens, 12);
  EXPECT_TRUE(r.usage_reported);
  EXPECT_EQ(r.provider_model, "gpt-4o-mini");
  EXPECT_EQ(r.response_id, "chatcmpl-s");
}

TEST(OpenAiTest, StreamByteByByteMatchesOnePiece) {
  auto adapter = MakeAdapter("openai");
  Streamed whole = RunStream(*adapter, kOpenAiStream, 0);
  Streamed bytes = RunStream(*adapter, kOpenAiStream, 1);
  ASSERT_TRUE(whole.response.ok());
  ASSERT_TRUE(bytes.response.ok()) << bytes.response.error().message;
  ExpectSameResponse(*whole.response, *bytes.response);
  EXPECT_EQ(whole.text, bytes.text);
  EXPECT_EQ(whole.pieces, bytes.pieces);
}

TEST(OpenAiTest, StreamWithoutDoneIsAnError) {
  auto adapter = MakeAdapter("openai");
  std::string wire = kOpenAiStream;
  wire.resize(wire.find("data: [DONE]"));
  Streamed s = RunStream(*adapter, wire, 7);
  ASSERT_FALSE(s.response.ok());
  EXPECT_EQ(s.response.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(s.response.error().message, "openai: stream ended before [DONE]");
  EXPECT_EQ(s.text, "Let me check.");  // what streamed before the cut was still reported
}

TEST(OpenAiTest, DoneWithoutTheFinalBlankLineStillEnds) {
  auto adapter = MakeAdapter("openai");
  std::string wire = kOpenAiStream;
  wire.resize(wire.size() - 1);  // "data: [DONE]\n"
  Streamed s = RunStream(*adapter, wire, 0);
  ASSERT_TRUE(s.response.ok()) << s.response.error().message;
  EXPECT_EQ(s.response->content, "Let me check.");
}

TEST(OpenAiTest, MalformedStreamEventIsAnError) {
  auto adapter = MakeAdapter("openai");
  auto acc = adapter->NewStream();
  Status s = acc->Feed("data: {\"choices\": [\n\n", [](std::string_view) {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kInvalidArgument);
  EXPECT_TRUE(s.error().message.starts_with("openai: stream event is not JSON"))
      << s.error().message;
  // The stream stays failed.
  EXPECT_FALSE(acc->Feed("data: [DONE]\n\n", [](std::string_view) {}).ok());
  EXPECT_FALSE(acc->Finish().ok());
}

TEST(OpenAiTest, ErrorInsideTheStream) {
  auto adapter = MakeAdapter("openai");
  Streamed s = RunStream(
      *adapter,
      "data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}\n\n",
      0);
  ASSERT_FALSE(s.response.ok());
  EXPECT_EQ(s.response.error().message, "openai: stream error: The server had an error");
}

TEST(OpenAiTest, ClassifiesErrors) {
  auto adapter = MakeAdapter("openai");
  std::string msg;
  EXPECT_EQ(adapter->ClassifyError(
                429,
                R"({"error":{"message":"You exceeded your current quota,)"
                R"( please check your plan and billing details.","type":"insufficient_quota",)"
                R"("code":"insufficient_quota"}})",
                &msg),
            FailureClass::kSpendLimit);
  EXPECT_EQ(msg, "You exceeded your current quota, please check your plan and billing details.");
  EXPECT_EQ(adapter->ClassifyError(
                429,
                R"({"error":{"message":"Billing hard limit has been reached",)"
                R"("type":"invalid_request_error","code":"billing_hard_limit_reached"}})",
                &msg),
            FailureClass::kSpendLimit);
  EXPECT_EQ(adapter->ClassifyError(
                429,
                R"({"error":{"message":"Rate limit reached for gpt-4o","type":"requests",)"
                R"("code":"rate_limit_exceeded"}})",
                &msg),
            FailureClass::kRetryable);
  EXPECT_EQ(msg, "Rate limit reached for gpt-4o");
  EXPECT_EQ(adapter->ClassifyError(500, "<html>oops</html>", &msg), FailureClass::kRetryable);
  EXPECT_EQ(msg, "HTTP 500: <html>oops</html>");
  for (int status : {408, 409, 425, 502, 503, 504, 529}) {
    EXPECT_EQ(adapter->ClassifyError(status, "", &msg), FailureClass::kRetryable) << status;
  }
  EXPECT_EQ(
      adapter->ClassifyError(
          400,
          R"({"error":{"message":"Invalid 'messages[1].role'","type":"invalid_request_error",)"
          R"("param":"messages","code":null}})",
          &msg),
      FailureClass::kPermanent);
  EXPECT_EQ(msg, "Invalid 'messages[1].role'");
  for (int status : {401, 403, 404, 422}) {
    EXPECT_EQ(adapter->ClassifyError(status, "{}", &msg), FailureClass::kPermanent) << status;
    EXPECT_EQ(msg, "HTTP " + std::to_string(status) + ": {}");
  }
  // A quota-shaped body on another status is not a spend limit.
  EXPECT_EQ(adapter->ClassifyError(400, R"({"error":{"type":"insufficient_quota"}})", &msg),
            FailureClass::kPermanent);
  EXPECT_EQ(adapter->ClassifyError(502, std::string(1000, 'x'), &msg), FailureClass::kRetryable);
  EXPECT_EQ(msg, "HTTP 502: " + std::string(200, 'x') + "...");
}

// ---------------------------------------------------------------------------------------
// Anthropic

TEST(AnthropicTest, BuildsTheWireRequest) {
  auto adapter = MakeAdapter("anthropic");
  ProviderConfig p = Provider("anthropic", "https://api.anthropic.com/v1");
  HttpRequest r = adapter->BuildRequest(p, "claude-3-5-haiku-latest", Conversation(), false);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "https://api.anthropic.com/v1/messages");
  EXPECT_EQ(HeaderOf(r, "x-api-key"), "sk-test");
  EXPECT_EQ(HeaderOf(r, "anthropic-version"), "2023-06-01");
  EXPECT_EQ(HeaderOf(r, "content-type"), "application/json");
  EXPECT_EQ(HeaderOf(r, "authorization"), "");
  json::value expected = json::parse(R"({
    "model": "claude-3-5-haiku-latest",
    "max_tokens": 256,
    "system": "You are terse.\n\nAnswer in one line.",
    "messages": [
      {"role": "user", "content": "Weather in Oslo and Bergen?"},
      {"role": "assistant", "content": [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Oslo"}},
        {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Bergen"}}]},
      {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "rain"},
        {"type": "tool_result", "tool_use_id": "call_2", "content": "{\"temp\":7}"}]}
    ],
    "tools": [{"name": "get_weather", "description": "Weather for a city",
               "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
    "temperature": 0.2
  })");
  EXPECT_EQ(json::parse(r.body), expected) << r.body;
}

TEST(AnthropicTest, DefaultsAndStreaming) {
  auto adapter = MakeAdapter("anthropic");
  ProviderConfig p = Provider("anthropic", "http://127.0.0.1:9/v1/");
  p.headers = {{"anthropic-version", "2024-01-01"}, {"anthropic-beta", "tools"}};
  json::object req = json::parse(R"({"messages":[{"role":"user","content":"hi"},
      {"role":"assistant","content":null,"tool_calls":[{"id":"t","name":"now","arguments":{}}]},
      {"role":"tool","tool_call_id":"t","content":"12:00"},
      {"role":"user","content":"thanks"}],
      "tools":[{"name":"now"}]})")
                         .as_object();
  HttpRequest r = adapter->BuildRequest(p, "claude", req, /*stream=*/true);
  EXPECT_EQ(r.url, "http://127.0.0.1:9/v1/messages");
  EXPECT_EQ(HeaderOf(r, "anthropic-version"), "2024-01-01");  // the config overrides
  EXPECT_EQ(HeaderOf(r, "anthropic-beta"), "tools");
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"model":"claude","max_tokens":4096,
      "messages":[{"role":"user","content":"hi"},
        {"role":"assistant","content":[{"type":"tool_use","id":"t","name":"now","input":{}}]},
        {"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"12:00"}]},
        {"role":"user","content":"thanks"}],
      "tools":[{"name":"now","input_schema":{"type":"object"}}],
      "stream":true})"))
      << r.body;
}

TEST(AnthropicTest, ParsesAResponse) {
  auto adapter = MakeAdapter("anthropic");
  auto r = adapter->ParseResponse(R"({
    "id": "msg_01XFD", "type": "message", "role": "assistant",
    "model": "claude-3-5-haiku-20241022",
    "content": [{"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather",
                 "input": {"city": "Oslo"}}],
    "stop_reason": "tool_use", "stop_sequence": null,
    "usage": {"input_tokens": 120, "output_tokens": 30}
  })");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->content, "Let me check.");
  ASSERT_EQ(r->tool_calls.size(), 1u);
  EXPECT_EQ(r->tool_calls[0].id, "toolu_01");
  EXPECT_EQ(r->tool_calls[0].name, "get_weather");
  EXPECT_EQ(r->tool_calls[0].arguments_json, "{\"city\":\"Oslo\"}");
  EXPECT_EQ(r->finish_reason, "tool_calls");
  EXPECT_EQ(r->usage.input_tokens, 120);
  EXPECT_EQ(r->usage.output_tokens, 30);
  EXPECT_TRUE(r->usage_reported);
  EXPECT_EQ(r->provider_model, "claude-3-5-haiku-20241022");
  EXPECT_EQ(r->response_id, "msg_01XFD");
}

TEST(AnthropicTest, MapsStopReasons) {
  auto adapter = MakeAdapter("anthropic");
  auto parse = [&](std::string reason) {
    auto r = adapter->ParseResponse(R"({"id":"m","content":[{"type":"text","text":"x"}],
        "stop_reason":")" + reason + R"("})");
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->finish_reason : "";
  };
  EXPECT_EQ(parse("end_turn"), "stop");
  EXPECT_EQ(parse("max_tokens"), "length");
  EXPECT_EQ(parse("tool_use"), "tool_calls");
  EXPECT_EQ(parse("stop_sequence"), "stop");
}

TEST(AnthropicTest, MalformedResponsesNameTheProblem) {
  auto adapter = MakeAdapter("anthropic");
  auto not_json = adapter->ParseResponse("{\"content\": [");
  ASSERT_FALSE(not_json.ok());
  EXPECT_EQ(not_json.error().code, Errc::kInvalidArgument);
  EXPECT_TRUE(not_json.error().message.starts_with("anthropic: response is not JSON"))
      << not_json.error().message;
  auto no_content = adapter->ParseResponse(R"({"id":"m","type":"message"})");
  ASSERT_FALSE(no_content.ok());
  EXPECT_TRUE(no_content.error().message.starts_with("anthropic: response has no content"))
      << no_content.error().message;
}

const char* kAnthropicStream =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\","
    "\"role\":\"assistant\",\"content\":[],\"model\":\"claude-3-5-haiku-20241022\","
    "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,"
    "\"output_tokens\":1}}}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\","
    "\"text\":\"\"}}\n\n"
    "event: ping\n"
    "data: {\"type\": \"ping\"}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"Checking \"}}\n\n"
    "event: content_block_delta\r\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"now.\"}}\r\n\r\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\","
    "\"id\":\"toolu_1\",\"name\":\"get_weather\",\"input\":{}}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"{\\\"city\\\": \\\"Os\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"lo\\\"}\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\","
    "\"id\":\"toolu_2\",\"name\":\"get_time\",\"input\":{}}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":2}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\","
    "\"stop_sequence\":null},\"usage\":{\"output_tokens\":42}}\n\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n\n";

TEST(AnthropicTest, AccumulatesAStream) {
  auto adapter = MakeAdapter("anthropic");
  Streamed s = RunStream(*adapter, kAnthropicStream, 0);
  ASSERT_TRUE(s.response.ok()) << s.response.error().message;
  const ChatResponse& r = *s.response;
  EXPECT_EQ(r.content, "Checking now.");
  EXPECT_EQ(s.pieces, (std::vector<std::string>{"Checking ", "now."}));
  ASSERT_EQ(r.tool_calls.size(), 2u);
  EXPECT_EQ(r.tool_calls[0].id, "toolu_1");
  EXPECT_EQ(r.tool_calls[0].name, "get_weather");
  EXPECT_EQ(r.tool_calls[0].arguments_json, "{\"city\": \"Oslo\"}");
  EXPECT_EQ(r.tool_calls[1].id, "toolu_2");
  EXPECT_EQ(r.tool_calls[1].arguments_json, "{}");  // no input deltas: the start's input
  EXPECT_EQ(r.finish_reason, "tool_calls");
  EXPECT_EQ(r.usage.input_tokens, 25);
  EXPECT_EQ(r.usage.output_tokens, 42);
  EXPECT_TRUE(r.usage_reported);
  EXPECT_EQ(r.provider_model, "claude-3-5-haiku-20241022");
  EXPECT_EQ(r.response_id, "msg_1");
}

TEST(AnthropicTest, StreamByteByByteMatchesOnePiece) {
  auto adapter = MakeAdapter("anthropic");
  Streamed whole = RunStream(*adapter, kAnthropicStream, 0);
  Streamed bytes = RunStream(*adapter, kAnthropicStream, 1);
  ASSERT_TRUE(whole.response.ok());
  ASSERT_TRUE(bytes.response.ok()) << bytes.response.error().message;
  ExpectSameResponse(*whole.response, *bytes.response);
  EXPECT_EQ(whole.text, bytes.text);
  EXPECT_EQ(whole.pieces, bytes.pieces);
}

TEST(AnthropicTest, StreamWithoutMessageStopIsAnError) {
  auto adapter = MakeAdapter("anthropic");
  std::string wire = kAnthropicStream;
  wire.resize(wire.find("event: message_stop"));
  Streamed s = RunStream(*adapter, wire, 0);
  ASSERT_FALSE(s.response.ok());
  EXPECT_EQ(s.response.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(s.response.error().message, "anthropic: stream ended before message_stop");
}

TEST(AnthropicTest, ErrorEventEndsTheStream) {
  auto adapter = MakeAdapter("anthropic");
  std::string wire = kAnthropicStream;
  wire.resize(wire.find("event: content_block_stop"));
  wire +=
      "event: error\n"
      "data: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": "
      "\"Overloaded\"}}\n\n";
  Streamed s = RunStream(*adapter, wire, 3);
  ASSERT_FALSE(s.response.ok());
  EXPECT_EQ(s.response.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(s.response.error().message, "anthropic: stream error: overloaded_error: Overloaded");
}

TEST(AnthropicTest, MalformedStreamEventIsAnError) {
  auto adapter = MakeAdapter("anthropic");
  Streamed s = RunStream(*adapter, "event: message_start\ndata: {\"type\":\n\n", 0);
  ASSERT_FALSE(s.response.ok());
  EXPECT_TRUE(s.response.error().message.starts_with("anthropic: stream event is not JSON"))
      << s.response.error().message;
}

TEST(AnthropicTest, ClassifiesErrors) {
  auto adapter = MakeAdapter("anthropic");
  std::string msg;
  EXPECT_EQ(
      adapter->ClassifyError(
          400,
          R"({"type":"error","error":{"type":"invalid_request_error",)"
          R"("message":"Your credit balance is too low to access the Anthropic API. Please go)"
          R"( to Plans & Billing to upgrade or purchase credits."}})",
          &msg),
      FailureClass::kSpendLimit);
  EXPECT_EQ(msg,
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & "
            "Billing to upgrade or purchase credits.");
  EXPECT_EQ(adapter->ClassifyError(402, "", &msg), FailureClass::kSpendLimit);
  EXPECT_EQ(msg, "HTTP 402: ");
  EXPECT_EQ(
      adapter->ClassifyError(
          403, R"({"type":"error","error":{"type":"billing_error","message":"Billing issue"}})",
          &msg),
      FailureClass::kSpendLimit);
  EXPECT_EQ(adapter->ClassifyError(400,
                                   R"({"type":"error","error":{"type":"invalid_request_error",)"
                                   R"("message":"messages: roles must alternate"}})",
                                   &msg),
            FailureClass::kPermanent);
  EXPECT_EQ(msg, "messages: roles must alternate");
  EXPECT_EQ(
      adapter->ClassifyError(
          529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})",
          &msg),
      FailureClass::kRetryable);
  EXPECT_EQ(msg, "Overloaded");
  EXPECT_EQ(adapter->ClassifyError(
                429,
                R"({"type":"error","error":{"type":"rate_limit_error",)"
                R"("message":"Number of request tokens has exceeded your per-minute rate limit"}})",
                &msg),
            FailureClass::kRetryable);
  EXPECT_EQ(adapter->ClassifyError(500, "Internal Server Error", &msg), FailureClass::kRetryable);
  EXPECT_EQ(msg, "HTTP 500: Internal Server Error");
  for (int status : {401, 404, 413, 422}) {
    EXPECT_EQ(adapter->ClassifyError(status, "{}", &msg), FailureClass::kPermanent) << status;
  }
}

}  // namespace
}  // namespace keel::gateway
