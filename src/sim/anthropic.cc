#include "sim/anthropic.h"

#include "sim/json_util.h"
#include "sim/text_split.h"

namespace keel::sim {

namespace json = boost::json;

namespace {

Error Invalid(const std::string& message) { return Error{Errc::kInvalidArgument, message}; }

const json::value* Member(const json::value& v, std::string_view key) {
  return v.is_object() ? v.as_object().if_contains(key) : nullptr;
}

// Text of a string or of an array of blocks of which the text blocks count.
Result<std::string> BlocksText(const json::value& v, const std::string& at) {
  if (v.is_string()) return std::string(v.as_string());
  if (!v.is_array()) return Invalid(at + ": Input should be a valid string or list of blocks");
  std::string text;
  for (size_t i = 0; i < v.as_array().size(); ++i) {
    const json::value& b = v.as_array()[i];
    const json::value* type = Member(b, "type");
    if (!type || !type->is_string()) {
      return Invalid(at + "." + std::to_string(i) + ".type: Field required");
    }
    if (type->as_string() != "text") continue;
    const json::value* t = Member(b, "text");
    if (!t || !t->is_string())
      return Invalid(at + "." + std::to_string(i) + ".text: Field required");
    if (!text.empty()) text += "\n";
    text += t->as_string();
  }
  return text;
}

Status AppendMessage(const json::value& mv, const std::string& at, ChatRequest& req) {
  const json::value* role = Member(mv, "role");
  if (!role || !role->is_string()) return Invalid(at + ".role: Field required");
  std::string_view r = role->as_string();
  if (r != "user" && r != "assistant") {
    return Invalid(at + ".role: Input should be 'user' or 'assistant'");
  }
  const json::value* content = Member(mv, "content");
  if (!content) return Invalid(at + ".content: Field required");
  Message msg;
  msg.role = std::string(r);
  if (content->is_string()) {
    msg.text = std::string(content->as_string());
    req.messages.push_back(std::move(msg));
    return OkStatus();
  }
  if (!content->is_array()) return Invalid(at + ".content: Input should be a valid list");
  std::string text;
  size_t results = 0;
  for (size_t i = 0; i < content->as_array().size(); ++i) {
    std::string bat = at + ".content." + std::to_string(i);
    const json::value& b = content->as_array()[i];
    const json::value* type = Member(b, "type");
    if (!type || !type->is_string()) return Invalid(bat + ".type: Field required");
    std::string_view t = type->as_string();
    if (t == "text") {
      const json::value* tx = Member(b, "text");
      if (!tx || !tx->is_string()) return Invalid(bat + ".text: Field required");
      if (!text.empty()) text += "\n";
      text += tx->as_string();
    } else if (t == "tool_use") {
      if (r != "assistant") return Invalid(bat + ": tool_use blocks belong in assistant messages");
      const json::value* id = Member(b, "id");
      const json::value* name = Member(b, "name");
      const json::value* input = Member(b, "input");
      if (!id || !id->is_string()) return Invalid(bat + ".id: Field required");
      if (!name || !name->is_string()) return Invalid(bat + ".name: Field required");
      if (!input || !input->is_object()) return Invalid(bat + ".input: Field required");
      msg.tool_calls.push_back(ToolCall{std::string(id->as_string()),
                                        std::string(name->as_string()), json::serialize(*input)});
    } else if (t == "tool_result") {
      if (r != "user") return Invalid(bat + ": tool_result blocks belong in user messages");
      const json::value* id = Member(b, "tool_use_id");
      if (!id || !id->is_string()) return Invalid(bat + ".tool_use_id: Field required");
      Message result;
      result.role = "tool";
      result.tool_call_id = std::string(id->as_string());
      if (const json::value* rc = Member(b, "content")) {
        auto rt = BlocksText(*rc, bat + ".content");
        if (!rt) return rt.error();
        result.text = std::move(*rt);
      }
      req.messages.push_back(std::move(result));
      ++results;
    }
    // image, document, thinking, ...: nothing the simulator reads
  }
  msg.text = std::move(text);
  // A user turn that only returns tool results is, for rules, a sequence of tool messages.
  if (results == 0 || !msg.text.empty()) req.messages.push_back(std::move(msg));
  return OkStatus();
}

}  // namespace

Result<ChatRequest> ParseAnthropicRequest(const json::value& body) {
  if (!body.is_object()) return Invalid("The request body must be a JSON object.");
  const json::object& o = body.as_object();
  ChatRequest req;
  req.api = Api::kAnthropic;
  const json::value* model = o.if_contains("model");
  if (!model) return Invalid("model: Field required");
  if (!model->is_string() || model->as_string().empty()) {
    return Invalid("model: Input should be a valid string");
  }
  req.model = std::string(model->as_string());
  const json::value* max_tokens = o.if_contains("max_tokens");
  if (!max_tokens) return Invalid("max_tokens: Field required");
  if (!max_tokens->is_int64() || max_tokens->as_int64() < 1) {
    return Invalid("max_tokens: Input should be an integer of at least 1");
  }
  req.max_tokens = max_tokens->as_int64();
  const json::value* messages = o.if_contains("messages");
  if (!messages) return Invalid("messages: Field required");
  if (!messages->is_array()) return Invalid("messages: Input should be a valid list");
  if (messages->as_array().empty()) return Invalid("messages: at least one message is required");
  const json::value* system = o.if_contains("system");
  if (system && !system->is_null()) {
    auto text = BlocksText(*system, "system");
    if (!text) return text.error();
    req.messages.push_back(Message{"system", std::move(*text), {}, "", ""});
  }
  for (size_t i = 0; i < messages->as_array().size(); ++i) {
    auto st = AppendMessage(messages->as_array()[i], "messages." + std::to_string(i), req);
    if (!st) return st.error();
  }
  for (size_t i = 0; i < req.messages.size(); ++i) {
    Message& m = req.messages[i];
    if (m.role != "tool") continue;
    for (size_t j = i; j-- > 0 && m.tool_name.empty();) {
      for (const auto& tc : req.messages[j].tool_calls) {
        if (tc.id == m.tool_call_id) m.tool_name = tc.name;
      }
    }
  }
  const json::value* tools = o.if_contains("tools");
  if (tools && !tools->is_null()) {
    if (!tools->is_array()) return Invalid("tools: Input should be a valid list");
    for (size_t i = 0; i < tools->as_array().size(); ++i) {
      const json::value* name = Member(tools->as_array()[i], "name");
      if (!name || !name->is_string() || name->as_string().empty()) {
        return Invalid("tools." + std::to_string(i) + ".name: Field required");
      }
      req.tools.push_back(std::string(name->as_string()));
    }
  }
  if (const json::value* s = o.if_contains("stream"); s && !s->is_null()) {
    if (!s->is_bool()) return Invalid("stream: Input should be a valid boolean");
    req.stream = s->as_bool();
  }
  const json::value null;
  req.fingerprint = Fingerprint(json::object{{"model", *model},
                                             {"system", system ? *system : null},
                                             {"messages", *messages},
                                             {"tools", tools ? *tools : null}});
  return req;
}

namespace {

const char* StopReason(const std::string& finish) {
  if (finish == "stop") return "end_turn";
  if (finish == "tool_calls") return "tool_use";
  if (finish == "length") return "max_tokens";
  return "refusal";  // content_filter
}

// The tool input as an object; arguments that are not a JSON object (the bad_tool_args fault)
// are passed as the raw string, which breaks the input schema just as visibly.
json::value Input(const std::string& arguments) {
  auto v = ParseJson(arguments);
  if (v && v->is_object()) return std::move(*v);
  return json::string(arguments);
}

std::string Frame(const char* type, const json::object& data) {
  return std::string("event: ") + type + "\ndata: " + json::serialize(data) + "\n\n";
}

}  // namespace

std::string AnthropicBody(const Completion& c) {
  json::array content;
  if (!c.content.empty() || c.tool_calls.empty()) {
    content.push_back(json::object{{"type", "text"}, {"text", c.content}});
  }
  for (const auto& tc : c.tool_calls) {
    content.push_back(json::object{
        {"type", "tool_use"}, {"id", tc.id}, {"name", tc.name}, {"input", Input(tc.arguments)}});
  }
  json::object out{{"id", c.id},
                   {"type", "message"},
                   {"role", "assistant"},
                   {"model", c.model},
                   {"content", std::move(content)},
                   {"stop_reason", StopReason(c.finish_reason)},
                   {"stop_sequence", nullptr}};
  if (!c.omit_usage) {
    out["usage"] =
        json::object{{"input_tokens", c.input_tokens}, {"output_tokens", c.output_tokens}};
  }
  return json::serialize(out);
}

std::vector<std::string> AnthropicStream(const Completion& c) {
  std::vector<std::string> frames;
  json::object message{{"id", c.id},
                       {"type", "message"},
                       {"role", "assistant"},
                       {"model", c.model},
                       {"content", json::array{}},
                       {"stop_reason", nullptr},
                       {"stop_sequence", nullptr}};
  if (!c.omit_usage) {
    message["usage"] = json::object{{"input_tokens", c.input_tokens}, {"output_tokens", 1}};
  }
  frames.push_back(
      Frame("message_start", json::object{{"type", "message_start"}, {"message", message}}));
  frames.push_back(Frame("ping", json::object{{"type", "ping"}}));
  int64_t index = 0;
  auto stop_block = [&]() {
    frames.push_back(Frame("content_block_stop",
                           json::object{{"type", "content_block_stop"}, {"index", index}}));
    ++index;
  };
  auto delta = [&](json::object d) {
    frames.push_back(Frame(
        "content_block_delta",
        json::object{{"type", "content_block_delta"}, {"index", index}, {"delta", std::move(d)}}));
  };
  if (!c.content.empty() || c.tool_calls.empty()) {
    frames.push_back(
        Frame("content_block_start",
              json::object{{"type", "content_block_start"},
                           {"index", index},
                           {"content_block", json::object{{"type", "text"}, {"text", ""}}}}));
    for (const auto& piece : SplitWords(c.content)) {
      delta(json::object{{"type", "text_delta"}, {"text", piece}});
    }
    stop_block();
  }
  for (const auto& tc : c.tool_calls) {
    frames.push_back(
        Frame("content_block_start",
              json::object{{"type", "content_block_start"},
                           {"index", index},
                           {"content_block", json::object{{"type", "tool_use"},
                                                          {"id", tc.id},
                                                          {"name", tc.name},
                                                          {"input", json::object{}}}}}));
    delta(json::object{{"type", "input_json_delta"}, {"partial_json", ""}});
    for (const auto& piece : SplitBytes(tc.arguments, 12)) {
      delta(json::object{{"type", "input_json_delta"}, {"partial_json", piece}});
    }
    stop_block();
  }
  json::object md{{"type", "message_delta"},
                  {"delta", json::object{{"stop_reason", StopReason(c.finish_reason)},
                                         {"stop_sequence", nullptr}}}};
  if (!c.omit_usage) md["usage"] = json::object{{"output_tokens", c.output_tokens}};
  frames.push_back(Frame("message_delta", md));
  frames.push_back(Frame("message_stop", json::object{{"type", "message_stop"}}));
  return frames;
}

std::string AnthropicError(int status, const std::string& message) {
  const char* type = "api_error";
  switch (status) {
    case 400:
      type = "invalid_request_error";
      break;
    case 401:
      type = "authentication_error";
      break;
    case 403:
      type = "permission_error";
      break;
    case 404:
      type = "not_found_error";
      break;
    case 413:
      type = "request_too_large";
      break;
    case 429:
      type = "rate_limit_error";
      break;
    case 529:
      type = "overloaded_error";
      break;
    default:
      break;
  }
  return json::serialize(json::object{
      {"type", "error"}, {"error", json::object{{"type", type}, {"message", message}}}});
}

std::string AnthropicSpendLimit() {
  return AnthropicError(400,
                        "Your credit balance is too low to access the Anthropic API. Please go to "
                        "Plans & Billing to upgrade or purchase credits.");
}

std::string AnthropicModels(const std::vector<std::string>& models) {
  json::array data;
  for (const auto& m : models) {
    data.push_back(json::object{
        {"type", "model"}, {"id", m}, {"display_name", m}, {"created_at", "2025-01-01T00:00:00Z"}});
  }
  json::value first = models.empty() ? json::value(nullptr) : json::value(models.front());
  json::value last = models.empty() ? json::value(nullptr) : json::value(models.back());
  return json::serialize(json::object{
      {"data", std::move(data)}, {"has_more", false}, {"first_id", first}, {"last_id", last}});
}

}  // namespace keel::sim
