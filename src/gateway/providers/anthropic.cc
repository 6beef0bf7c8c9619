// Anthropic Messages API.

#include <map>
#include <optional>

#include "gateway/providers/adapters.h"
#include "gateway/providers/sse_stream.h"
#include "gateway/providers/wire_util.h"

namespace keel::gateway {
namespace {

namespace json = boost::json;
using wire::GetArray;
using wire::GetInt;
using wire::GetObject;
using wire::GetString;
using wire::Snippet;

constexpr int64_t kDefaultMaxTokens = 4096;  // the API requires max_tokens on every request

Error Bad(std::string what) { return Error{Errc::kInvalidArgument, "anthropic: " + what}; }

// tool_use.input must be an object. Arguments the model sent malformed are kept by
// ResponseToJson as {"$raw": text}, which is an object and goes back as it is.
json::value ArgumentsObject(const json::value* args) {
  if (!args || args->is_null()) return json::object();
  if (args->is_object()) return *args;
  if (args->is_string()) {
    boost::system::error_code ec;
    json::value v = json::parse(args->get_string(), ec);
    if (!ec && v.is_object()) return v;
    return json::object{{"$raw", args->get_string()}};
  }
  return json::object{{"$raw", json::serialize(*args)}};
}

json::value WireTool(std::string_view name, const json::value* description,
                     const json::value* parameters) {
  json::object wt;
  wt["name"] = name;
  if (description && !description->is_null()) wt["description"] = *description;
  wt["input_schema"] =
      parameters && parameters->is_object() ? *parameters : json::value({{"type", "object"}});
  return wt;
}

// Anthropic's stop reasons in OpenAI's names, the neutral format's.
std::string FinishReason(std::string_view stop_reason) {
  if (stop_reason == "end_turn" || stop_reason == "stop_sequence") return "stop";
  if (stop_reason == "tool_use") return "tool_calls";
  if (stop_reason == "max_tokens") return "length";
  return std::string(stop_reason);
}

std::string ErrorText(const json::object& o) {
  if (const json::object* err = GetObject(o, "error")) {
    std::string_view m = GetString(*err, "message");
    std::string_view t = GetString(*err, "type");
    if (!m.empty()) return t.empty() ? std::string(m) : std::string(t) + ": " + std::string(m);
  }
  return Snippet(json::serialize(o));
}

// An empty balance comes back as 402, or as a 400/403 that only its text tells apart from a
// bad request.
bool IsSpendLimit(int status, const wire::ProviderError& pe) {
  if (status == 402) return true;
  return (status == 400 || status == 403) &&
         (pe.type == "billing_error" || wire::ContainsIgnoreCase(pe.message, "credit balance"));
}

class AnthropicStream final : public wire::SseStream {
 public:
  AnthropicStream() : SseStream("anthropic", "message_stop") {}

 private:
  struct Block {
    std::string type;
    ToolCall call;
    std::string initial_input;
    std::string json;
    bool has_json = false;
  };

  void AddToolCalls(ChatResponse& r) const override {
    for (const auto& [index, block] : blocks_) {
      if (block.type != "tool_use") continue;
      ToolCall call = block.call;
      // The input arrives as JSON fragments; a call without any has the start event's input.
      call.arguments_json = block.has_json ? block.json : block.initial_input;
      if (call.arguments_json.empty()) call.arguments_json = "{}";
      r.tool_calls.push_back(std::move(call));
    }
  }

  Status OnEvent(const SseEvent& e, const TextFn& on_text) override {
    auto parsed = wire::ParseObject(e.data, "stream event");
    if (!parsed.ok()) return Bad(parsed.error().message);
    const json::object* o = &*parsed;
    std::string_view type = GetString(*o, "type");
    if (type.empty()) type = e.event;

    if (type == "error") return Bad("stream error: " + ErrorText(*o));
    if (type == "message_start") {
      const json::object* msg = GetObject(*o, "message");
      if (!msg) return Bad("message_start without a message: " + Snippet(e.data));
      wire::ReadMessageInfo(*msg, "input_tokens", "output_tokens", response_);
      return OkStatus();
    }
    if (type == "content_block_start") {
      const json::object* cb = GetObject(*o, "content_block");
      if (!cb) return Bad("content_block_start without a content_block: " + Snippet(e.data));
      Block& b = blocks_[GetInt(*o, "index")];
      b.type = GetString(*cb, "type");
      if (b.type == "tool_use") {
        b.call.id = GetString(*cb, "id");
        b.call.name = GetString(*cb, "name");
        if (const json::value* input = cb->if_contains("input"); input && !input->is_null()) {
          b.initial_input = json::serialize(*input);
        }
      } else if (b.type == "text") {
        Text(GetString(*cb, "text"), on_text);
      }
      return OkStatus();
    }
    if (type == "content_block_delta") {
      const json::object* delta = GetObject(*o, "delta");
      if (!delta) return Bad("content_block_delta without a delta: " + Snippet(e.data));
      std::string_view dtype = GetString(*delta, "type");
      if (dtype == "text_delta") {
        Text(GetString(*delta, "text"), on_text);
      } else if (dtype == "input_json_delta") {
        Block& b = blocks_[GetInt(*o, "index")];
        b.json += GetString(*delta, "partial_json");
        b.has_json = true;
      }
      // thinking_delta, signature_delta, citations_delta: not part of the neutral response.
      return OkStatus();
    }
    if (type == "message_delta") {
      if (const json::object* delta = GetObject(*o, "delta")) {
        if (std::string_view sr = GetString(*delta, "stop_reason"); !sr.empty()) {
          response_.finish_reason = FinishReason(sr);
        }
      }
      if (const json::object* usage = GetObject(*o, "usage")) {
        // output_tokens here is the running total, not an increment.
        response_.usage.output_tokens =
            GetInt(*usage, "output_tokens", response_.usage.output_tokens);
        int64_t input = GetInt(*usage, "input_tokens");
        if (input > 0) response_.usage.input_tokens = input;
        response_.usage_reported = true;
      }
      return OkStatus();
    }
    if (type == "message_stop") {
      complete_ = true;
      return OkStatus();
    }
    // ping, content_block_stop, and event types added to the API later.
    return OkStatus();
  }

  std::map<int64_t, Block> blocks_;  // by content block index
};

class AnthropicAdapter final : public ProviderAdapter {
 public:
  HttpRequest BuildRequest(const ProviderConfig& provider, const std::string& model_id,
                           const json::object& request, bool stream) const override {
    json::object body;
    body["model"] = model_id;
    int64_t max_tokens = GetInt(request, "max_tokens", 0);
    body["max_tokens"] = max_tokens > 0 ? max_tokens : kDefaultMaxTokens;

    std::string system;
    json::array messages;
    // Index in `messages` of the user message collecting tool results, while results come
    // one after another: the API wants them in one user turn right after the tool_use turn.
    std::optional<size_t> results_turn;
    if (const json::array* in = GetArray(request, "messages")) {
      for (const json::value& mv : *in) {
        const json::object* m = mv.if_object();
        if (!m) {
          // Passed on as it is; the provider's 400 will name it.
          messages.push_back(mv);
          results_turn.reset();
          continue;
        }
        std::string_view role = GetString(*m, "role");
        const json::value* content = m->if_contains("content");
        if (role == "system") {
          if (!system.empty()) system += "\n\n";
          system += wire::AsText(content);
          continue;
        }
        if (role == "tool") {
          json::object result{{"type", "tool_result"},
                              {"tool_use_id", GetString(*m, "tool_call_id")},
                              {"content", wire::AsText(content)}};
          if (results_turn) {
            messages[*results_turn].as_object()["content"].as_array().push_back(std::move(result));
          } else {
            results_turn = messages.size();
            messages.push_back(
                json::object{{"role", "user"}, {"content", json::array{std::move(result)}}});
          }
          continue;
        }
        results_turn.reset();
        if (role == "assistant") {
          messages.push_back(AssistantMessage(*m));
          continue;
        }
        json::object out;
        out["role"] = role;
        out["content"] = content && !content->is_null() ? *content : json::value("");
        messages.push_back(std::move(out));
      }
    }
    if (!system.empty()) body["system"] = system;
    body["messages"] = std::move(messages);

    wire::PutTools(request, body, WireTool);
    if (const json::value* t = request.if_contains("temperature"); t && t->is_number()) {
      body["temperature"] = *t;
    }
    if (stream) body["stream"] = true;

    std::vector<std::pair<std::string, std::string>> headers = {
        {"content-type", "application/json"}, {"anthropic-version", "2023-06-01"}};
    if (stream) headers.emplace_back("accept", "text/event-stream");
    if (!provider.api_key.empty()) headers.emplace_back("x-api-key", provider.api_key);
    return wire::JsonPost(provider, "messages", std::move(headers), body);
  }

  Result<ChatResponse> ParseResponse(std::string_view body) const override {
    auto parsed = wire::ParseObject(body, "response");
    if (!parsed.ok()) return Bad(parsed.error().message);
    const json::object* o = &*parsed;
    if (GetString(*o, "type") == "error") return Bad("response is an error: " + ErrorText(*o));
    const json::array* content = GetArray(*o, "content");
    if (!content) return Bad("response has no content array: " + Snippet(body));

    ChatResponse r;
    for (size_t i = 0; i < content->size(); ++i) {
      const json::object* block = (*content)[i].if_object();
      if (!block) {
        return Bad("response content[" + std::to_string(i) +
                   "] is not an object: " + Snippet(json::serialize((*content)[i])));
      }
      std::string_view type = GetString(*block, "type");
      if (type == "text") {
        r.content += GetString(*block, "text");
      } else if (type == "tool_use") {
        ToolCall tc;
        tc.id = GetString(*block, "id");
        tc.name = GetString(*block, "name");
        const json::value* input = block->if_contains("input");
        tc.arguments_json = input && !input->is_null() ? json::serialize(*input) : "{}";
        r.tool_calls.push_back(std::move(tc));
      }
    }
    r.finish_reason = FinishReason(GetString(*o, "stop_reason"));
    wire::ReadMessageInfo(*o, "input_tokens", "output_tokens", r);
    return r;
  }

  std::unique_ptr<StreamAccumulator> NewStream() const override {
    return std::make_unique<AnthropicStream>();
  }

  FailureClass ClassifyError(int status, std::string_view body,
                             std::string* message) const override {
    return wire::ClassifyError(status, body, message, IsSpendLimit);
  }

 private:
  static json::object AssistantMessage(const json::object& m) {
    const json::value* content = m.if_contains("content");
    const json::array* calls = GetArray(m, "tool_calls");
    json::object out;
    out["role"] = "assistant";
    if (!calls || calls->empty()) {
      out["content"] = content && !content->is_null() ? *content : json::value("");
      return out;
    }
    json::array blocks;
    if (content && content->is_string() && !content->get_string().empty()) {
      blocks.push_back(json::object{{"type", "text"}, {"text", content->get_string()}});
    } else if (content && content->is_array()) {
      for (const json::value& b : content->get_array()) blocks.push_back(b);
    }
    for (const json::value& cv : *calls) {
      const json::object* call = cv.if_object();
      if (!call) continue;
      blocks.push_back(json::object{{"type", "tool_use"},
                                    {"id", GetString(*call, "id")},
                                    {"name", GetString(*call, "name")},
                                    {"input", ArgumentsObject(call->if_contains("arguments"))}});
    }
    out["content"] = std::move(blocks);
    return out;
  }
};

}  // namespace

std::unique_ptr<ProviderAdapter> NewAnthropicAdapter() {
  return std::make_unique<AnthropicAdapter>();
}

}  // namespace keel::gateway
