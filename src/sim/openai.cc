#include "sim/openai.h"

#include "sim/json_util.h"
#include "sim/text_split.h"

namespace keel::sim {

namespace json = boost::json;

namespace {

Error Invalid(const std::string& message) { return Error{Errc::kInvalidArgument, message}; }

// Text of a message's content: a string, null, or an array of parts of which the text (and
// refusal) parts count.
Result<std::string> ContentText(const json::value& content, const std::string& param) {
  if (content.is_null()) return std::string();
  if (content.is_string()) return std::string(content.as_string());
  if (!content.is_array()) {
    return Invalid("Invalid type for '" + param + "': expected a string or an array of parts.");
  }
  std::string text;
  const json::array& parts = content.as_array();
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string at = param + "[" + std::to_string(i) + "]";
    if (!parts[i].is_object() || !parts[i].as_object().contains("type") ||
        !parts[i].at("type").is_string()) {
      return Invalid("Invalid value for '" + at + "': expected an object with a 'type'.");
    }
    const json::object& part = parts[i].as_object();
    std::string_view type = part.at("type").as_string();
    const char* field = type == "text" ? "text" : type == "refusal" ? "refusal" : nullptr;
    if (!field) continue;  // images, audio, files: no text to count
    const json::value* t = part.if_contains(field);
    if (!t || !t->is_string()) {
      return Invalid("Missing required parameter: '" + at + "." + field + "'.");
    }
    if (!text.empty()) text += "\n";
    text += t->as_string();
  }
  return text;
}

Result<std::vector<ToolCall>> ParseToolCalls(const json::value& v, const std::string& param) {
  if (!v.is_array()) return Invalid("Invalid type for '" + param + "': expected an array.");
  std::vector<ToolCall> calls;
  for (size_t i = 0; i < v.as_array().size(); ++i) {
    std::string at = param + "[" + std::to_string(i) + "]";
    const json::value& c = v.as_array()[i];
    const json::value* id = c.is_object() ? c.as_object().if_contains("id") : nullptr;
    const json::value* fn = c.is_object() ? c.as_object().if_contains("function") : nullptr;
    if (!id || !id->is_string()) return Invalid("Missing required parameter: '" + at + ".id'.");
    if (!fn || !fn->is_object()) {
      return Invalid("Missing required parameter: '" + at + ".function'.");
    }
    const json::value* name = fn->as_object().if_contains("name");
    const json::value* args = fn->as_object().if_contains("arguments");
    if (!name || !name->is_string()) {
      return Invalid("Missing required parameter: '" + at + ".function.name'.");
    }
    if (!args || !args->is_string()) {
      return Invalid("Missing required parameter: '" + at + ".function.arguments'.");
    }
    calls.push_back(ToolCall{std::string(id->as_string()), std::string(name->as_string()),
                             std::string(args->as_string())});
  }
  return calls;
}

Result<int64_t> PositiveInt(const json::value& v, const std::string& param) {
  if (!v.is_int64() || v.as_int64() < 1) {
    return Invalid("Invalid '" + param + "': expected an integer of at least 1.");
  }
  return v.as_int64();
}

}  // namespace

Result<ChatRequest> ParseOpenAiRequest(const json::value& body) {
  if (!body.is_object()) return Invalid("The request body must be a JSON object.");
  const json::object& o = body.as_object();
  ChatRequest req;
  req.api = Api::kOpenAi;
  const json::value* model = o.if_contains("model");
  if (!model || !model->is_string() || model->as_string().empty()) {
    return Invalid("you must provide a model parameter");
  }
  req.model = std::string(model->as_string());
  const json::value* messages = o.if_contains("messages");
  if (!messages) return Invalid("Missing required parameter: 'messages'.");
  if (!messages->is_array()) return Invalid("Invalid type for 'messages': expected an array.");
  if (messages->as_array().empty()) {
    return Invalid("Invalid 'messages': empty array. Expected an array with minimum length 1.");
  }
  for (size_t i = 0; i < messages->as_array().size(); ++i) {
    std::string at = "messages[" + std::to_string(i) + "]";
    const json::value& mv = messages->as_array()[i];
    if (!mv.is_object()) return Invalid("Invalid type for '" + at + "': expected an object.");
    const json::object& m = mv.as_object();
    const json::value* role = m.if_contains("role");
    if (!role || !role->is_string())
      return Invalid("Missing required parameter: '" + at + ".role'.");
    Message msg;
    std::string_view r = role->as_string();
    if (r == "system" || r == "developer")
      msg.role = "system";
    else if (r == "user" || r == "assistant" || r == "tool")
      msg.role = std::string(r);
    else if (r == "function")
      msg.role = "tool";
    else {
      return Invalid("Invalid value: '" + std::string(r) + "'. Supported values are: 'system', " +
                     "'developer', 'assistant', 'user', 'tool', and 'function'.");
    }
    if (const json::value* content = m.if_contains("content")) {
      auto text = ContentText(*content, at + ".content");
      if (!text) return text.error();
      msg.text = std::move(*text);
    } else if (msg.role != "assistant") {
      return Invalid("Missing required parameter: '" + at + ".content'.");
    }
    if (msg.role == "assistant") {
      if (const json::value* tc = m.if_contains("tool_calls"); tc && !tc->is_null()) {
        auto calls = ParseToolCalls(*tc, at + ".tool_calls");
        if (!calls) return calls.error();
        msg.tool_calls = std::move(*calls);
      }
    }
    if (r == "tool") {
      const json::value* id = m.if_contains("tool_call_id");
      if (!id || !id->is_string()) {
        return Invalid("Missing required parameter: '" + at + ".tool_call_id'.");
      }
      msg.tool_call_id = std::string(id->as_string());
    }
    if (r == "function") {
      const json::value* name = m.if_contains("name");
      if (name && name->is_string()) msg.tool_name = std::string(name->as_string());
    }
    req.messages.push_back(std::move(msg));
  }
  // Name each tool result after the call it answers.
  for (size_t i = 0; i < req.messages.size(); ++i) {
    Message& m = req.messages[i];
    if (m.role != "tool" || m.tool_call_id.empty()) continue;
    for (size_t j = i; j-- > 0;) {
      for (const auto& tc : req.messages[j].tool_calls) {
        if (tc.id == m.tool_call_id) m.tool_name = tc.name;
      }
      if (!m.tool_name.empty()) break;
    }
  }
  const json::value* tools = o.if_contains("tools");
  if (tools && !tools->is_null()) {
    if (!tools->is_array()) return Invalid("Invalid type for 'tools': expected an array.");
    for (size_t i = 0; i < tools->as_array().size(); ++i) {
      std::string at = "tools[" + std::to_string(i) + "]";
      const json::value& t = tools->as_array()[i];
      const json::value* fn = t.is_object() ? t.as_object().if_contains("function") : nullptr;
      const json::value* name =
          fn && fn->is_object() ? fn->as_object().if_contains("name") : nullptr;
      if (!name || !name->is_string() || name->as_string().empty()) {
        return Invalid("Missing required parameter: '" + at + ".function.name'.");
      }
      req.tools.push_back(std::string(name->as_string()));
    }
  }
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    const json::value* v = o.if_contains(key);
    if (!v || v->is_null()) continue;
    auto n = PositiveInt(*v, key);
    if (!n) return n.error();
    req.max_tokens = *n;  // max_completion_tokens (checked second) wins
  }
  if (const json::value* s = o.if_contains("stream"); s && !s->is_null()) {
    if (!s->is_bool()) return Invalid("Invalid type for 'stream': expected a boolean.");
    req.stream = s->as_bool();
  }
  if (const json::value* so = o.if_contains("stream_options"); so && so->is_object()) {
    const json::value* iu = so->as_object().if_contains("include_usage");
    req.include_usage = iu && iu->is_bool() && iu->as_bool();
  }
  const json::value null;
  req.fingerprint = Fingerprint(
      json::object{{"model", *model}, {"messages", *messages}, {"tools", tools ? *tools : null}});
  return req;
}

namespace {

json::object Usage(const Completion& c) {
  return json::object{{"prompt_tokens", c.input_tokens},
                      {"completion_tokens", c.output_tokens},
                      {"total_tokens", c.input_tokens + c.output_tokens}};
}

json::object Head(const Completion& c, const char* object) {
  return json::object{{"id", c.id}, {"object", object}, {"created", c.created}, {"model", c.model}};
}

std::string Frame(const json::object& chunk) { return "data: " + json::serialize(chunk) + "\n\n"; }

}  // namespace

std::string OpenAiBody(const Completion& c) {
  json::object message{{"role", "assistant"}};
  if (c.content.empty() && !c.tool_calls.empty())
    message["content"] = nullptr;
  else
    message["content"] = c.content;
  message["refusal"] = nullptr;
  if (!c.tool_calls.empty()) {
    json::array calls;
    for (const auto& tc : c.tool_calls) {
      calls.push_back(
          json::object{{"id", tc.id},
                       {"type", "function"},
                       {"function", json::object{{"name", tc.name}, {"arguments", tc.arguments}}}});
    }
    message["tool_calls"] = std::move(calls);
  }
  json::object out = Head(c, "chat.completion");
  out["choices"] = json::array{json::object{{"index", 0},
                                            {"message", std::move(message)},
                                            {"logprobs", nullptr},
                                            {"finish_reason", c.finish_reason}}};
  if (!c.omit_usage) out["usage"] = Usage(c);
  return json::serialize(out);
}

std::vector<std::string> OpenAiStream(const Completion& c, bool include_usage) {
  bool usage = include_usage && !c.omit_usage;
  auto chunk = [&](json::object delta, json::value finish) {
    json::object o = Head(c, "chat.completion.chunk");
    o["choices"] = json::array{json::object{{"index", 0},
                                            {"delta", std::move(delta)},
                                            {"logprobs", nullptr},
                                            {"finish_reason", std::move(finish)}}};
    if (usage) o["usage"] = nullptr;
    return Frame(o);
  };
  std::vector<std::string> frames;
  frames.push_back(chunk(json::object{{"role", "assistant"}, {"content", ""}}, nullptr));
  for (const auto& piece : SplitWords(c.content)) {
    frames.push_back(chunk(json::object{{"content", piece}}, nullptr));
  }
  for (size_t i = 0; i < c.tool_calls.size(); ++i) {
    const ToolCall& tc = c.tool_calls[i];
    int64_t index = static_cast<int64_t>(i);
    frames.push_back(chunk(
        json::object{
            {"tool_calls", json::array{json::object{
                               {"index", index},
                               {"id", tc.id},
                               {"type", "function"},
                               {"function", json::object{{"name", tc.name}, {"arguments", ""}}}}}}},
        nullptr));
    for (const auto& piece : SplitBytes(tc.arguments, 12)) {
      frames.push_back(chunk(
          json::object{{"tool_calls",
                        json::array{json::object{
                            {"index", index}, {"function", json::object{{"arguments", piece}}}}}}},
          nullptr));
    }
  }
  frames.push_back(chunk(json::object{}, json::string(c.finish_reason)));
  if (usage) {
    json::object o = Head(c, "chat.completion.chunk");
    o["choices"] = json::array{};
    o["usage"] = Usage(c);
    frames.push_back(Frame(o));
  }
  frames.push_back("data: [DONE]\n\n");
  return frames;
}

std::string OpenAiError(int status, const std::string& message) {
  const char* type = "server_error";
  json::value code = nullptr;
  switch (status) {
    case 400:
      type = "invalid_request_error";
      break;
    case 401:
      type = "invalid_request_error";
      code = "invalid_api_key";
      break;
    case 403:
      type = "invalid_request_error";
      break;
    case 404:
      type = "invalid_request_error";
      code = "unknown_url";
      break;
    case 413:
      type = "invalid_request_error";
      code = "request_too_large";
      break;
    case 429:
      type = "requests";
      code = "rate_limit_exceeded";
      break;
    default:
      break;
  }
  return json::serialize(json::object{
      {"error",
       json::object{{"message", message}, {"type", type}, {"param", nullptr}, {"code", code}}}});
}

std::string OpenAiSpendLimit() {
  return json::serialize(json::object{
      {"error", json::object{{"message",
                              "You exceeded your current quota, please check your plan and billing "
                              "details."},
                             {"type", "insufficient_quota"},
                             {"param", nullptr},
                             {"code", "insufficient_quota"}}}});
}

std::string OpenAiModels(const std::vector<std::string>& models) {
  json::array data;
  for (const auto& m : models) {
    data.push_back(
        json::object{{"id", m}, {"object", "model"}, {"created", 0}, {"owned_by", "keel-llm-sim"}});
  }
  return json::serialize(json::object{{"object", "list"}, {"data", std::move(data)}});
}

}  // namespace keel::sim
