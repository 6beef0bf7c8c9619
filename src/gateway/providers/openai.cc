// OpenAI Chat Completions (also what vLLM, llama.cpp, Ollama and most gateways speak).

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

Error Bad(std::string what) { return Error{Errc::kInvalidArgument, "openai: " + what}; }

// Arguments go over the wire as JSON text. {"$raw": text} is how ResponseToJson keeps
// arguments the model sent malformed; they go back exactly as the model wrote them.
std::string ArgumentsText(const json::value* args) {
  if (!args || args->is_null()) return "{}";
  if (args->is_string()) return std::string(args->get_string());
  if (const json::object* o = args->if_object(); o && o->size() == 1) {
    const json::value* raw = o->if_contains("$raw");
    if (raw && raw->is_string()) return std::string(raw->get_string());
  }
  return json::serialize(*args);
}

json::object WireMessage(const json::object& m) {
  std::string_view role = GetString(m, "role");
  if (role == "tool") {
    json::object out;
    out["role"] = "tool";
    out["tool_call_id"] = GetString(m, "tool_call_id");
    out["content"] = wire::AsText(m.if_contains("content"));
    return out;
  }
  if (role == "assistant") {
    json::object out;
    out["role"] = "assistant";
    const json::value* content = m.if_contains("content");
    out["content"] = content ? *content : json::value(nullptr);
    const json::array* calls = GetArray(m, "tool_calls");
    if (calls && !calls->empty()) {
      json::array wire_calls;
      for (const json::value& c : *calls) {
        const json::object* call = c.if_object();
        if (!call) continue;
        wire_calls.push_back(
            json::object{{"id", GetString(*call, "id")},
                         {"type", "function"},
                         {"function",
                          {{"name", GetString(*call, "name")},
                           {"arguments", ArgumentsText(call->if_contains("arguments"))}}}});
      }
      out["tool_calls"] = std::move(wire_calls);
    }
    return out;
  }
  // system, user (and any role OpenAI adds later) already have the wire shape.
  return m;
}

json::value WireTool(std::string_view name, const json::value* description,
                     const json::value* parameters) {
  json::object fn;
  fn["name"] = name;
  if (description && !description->is_null()) fn["description"] = *description;
  if (parameters && !parameters->is_null()) fn["parameters"] = *parameters;
  return json::object{{"type", "function"}, {"function", std::move(fn)}};
}

// Chat Completions "content" may be a string, null, or (from some servers) an array of parts.
Result<std::string> ContentText(const json::value* content) {
  if (!content || content->is_null()) return std::string();
  if (content->is_string()) return std::string(content->get_string());
  if (const json::array* parts = content->if_array()) {
    std::string text;
    for (const json::value& p : *parts) {
      if (const json::object* po = p.if_object()) text += GetString(*po, "text");
    }
    return text;
  }
  return Bad("message content is neither a string nor null: " + Snippet(json::serialize(*content)));
}

std::string StreamErrorText(const json::value& err) {
  if (const json::object* o = err.if_object()) {
    std::string_view m = GetString(*o, "message");
    if (!m.empty()) return std::string(m);
  }
  return Snippet(wire::AsText(&err));
}

// A 429 is usually a rate limit worth waiting out, but an exhausted quota is not.
bool IsSpendLimit(int status, const wire::ProviderError& pe) {
  auto is_quota = [](std::string_view s) {
    return s == "insufficient_quota" || s == "billing_hard_limit_reached";
  };
  return status == 429 && (is_quota(pe.type) || is_quota(pe.code));
}

class OpenAiStream final : public wire::SseStream {
 public:
  OpenAiStream() : SseStream("openai", "[DONE]") {}

 private:
  void AddToolCalls(ChatResponse& r) const override {
    for (const auto& [index, call] : calls_) r.tool_calls.push_back(call);
  }

  Status OnEvent(const SseEvent& e, const TextFn& on_text) override {
    if (e.data == "[DONE]") {
      complete_ = true;
      return OkStatus();
    }
    auto parsed = wire::ParseObject(e.data, "stream event");
    if (!parsed.ok()) return Bad(parsed.error().message);
    const json::object* chunk = &*parsed;
    if (const json::value* err = chunk->if_contains("error"); err && !err->is_null()) {
      return Bad("stream error: " + StreamErrorText(*err));
    }
    if (std::string_view id = GetString(*chunk, "id"); !id.empty()) response_.response_id = id;
    if (std::string_view model = GetString(*chunk, "model"); !model.empty()) {
      response_.provider_model = model;
    }
    if (const json::array* choices = GetArray(*chunk, "choices")) {
      for (const json::value& cv : *choices) {
        const json::object* choice = cv.if_object();
        if (!choice) return Bad("stream choice is not an object: " + Snippet(e.data));
        if (GetInt(*choice, "index", 0) != 0) continue;  // we ask for one choice
        if (const json::object* delta = GetObject(*choice, "delta")) {
          Status s = OnDelta(*delta, e.data, on_text);
          if (!s.ok()) return s;
        }
        if (std::string_view fr = GetString(*choice, "finish_reason"); !fr.empty()) {
          response_.finish_reason = fr;
        }
      }
    }
    wire::ReadUsage(*chunk, "prompt_tokens", "completion_tokens", response_);
    return OkStatus();
  }

  Status OnDelta(const json::object& delta, std::string_view data, const TextFn& on_text) {
    if (const json::value* c = delta.if_contains("content"); c && !c->is_null()) {
      if (!c->is_string()) return Bad("stream delta content is not a string: " + Snippet(data));
      Text(c->get_string(), on_text);
    }
    const json::array* calls = GetArray(delta, "tool_calls");
    if (!calls) return OkStatus();
    for (size_t i = 0; i < calls->size(); ++i) {
      const json::object* tc = (*calls)[i].if_object();
      if (!tc) return Bad("stream tool call delta is not an object: " + Snippet(data));
      // The index ties the pieces of one call together across chunks.
      ToolCall& call = calls_[GetInt(*tc, "index", static_cast<int64_t>(i))];
      if (std::string_view id = GetString(*tc, "id"); !id.empty() && call.id.empty()) {
        call.id = id;
      }
      if (const json::object* fn = GetObject(*tc, "function")) {
        std::string_view name = GetString(*fn, "name");
        if (!name.empty() && call.name.empty()) call.name = name;
        call.arguments_json += GetString(*fn, "arguments");
      }
    }
    return OkStatus();
  }

  std::map<int64_t, ToolCall> calls_;  // by the stream's tool call index
};

class OpenAiAdapter final : public ProviderAdapter {
 public:
  HttpRequest BuildRequest(const ProviderConfig& provider, const std::string& model_id,
                           const json::object& request, bool stream) const override {
    json::object body;
    body["model"] = model_id;
    json::array messages;
    if (const json::array* in = GetArray(request, "messages")) {
      for (const json::value& m : *in) {
        // A malformed message is passed on as it is; the provider's 400 will name it.
        messages.push_back(m.is_object() ? json::value(WireMessage(m.get_object())) : m);
      }
    }
    body["messages"] = std::move(messages);
    wire::PutTools(request, body, WireTool);
    for (std::string_view key : {"max_tokens", "temperature"}) {
      if (const json::value* v = request.if_contains(key); v && v->is_number()) body[key] = *v;
    }
    if (stream) {
      body["stream"] = true;
      body["stream_options"] = {{"include_usage", true}};
    }

    std::vector<std::pair<std::string, std::string>> headers = {
        {"Content-Type", "application/json"}};
    if (stream) headers.emplace_back("Accept", "text/event-stream");
    if (!provider.api_key.empty())
      headers.emplace_back("Authorization", "Bearer " + provider.api_key);
    return wire::JsonPost(provider, "chat/completions", std::move(headers), body);
  }

  Result<ChatResponse> ParseResponse(std::string_view body) const override {
    auto parsed = wire::ParseObject(body, "response");
    if (!parsed.ok()) return Bad(parsed.error().message);
    const json::object* o = &*parsed;
    if (const json::value* err = o->if_contains("error"); err && !err->is_null()) {
      return Bad("response is an error: " + StreamErrorText(*err));
    }
    const json::array* choices = GetArray(*o, "choices");
    const json::object* message = nullptr;
    if (choices && !choices->empty() && (*choices)[0].is_object()) {
      message = GetObject((*choices)[0].get_object(), "message");
    }
    if (!message) return Bad("response has no choices[0].message: " + Snippet(body));

    ChatResponse r;
    auto content = ContentText(message->if_contains("content"));
    if (!content.ok()) return content.error();
    r.content = std::move(*content);
    if (const json::array* calls = GetArray(*message, "tool_calls")) {
      for (size_t i = 0; i < calls->size(); ++i) {
        const json::object* call = (*calls)[i].if_object();
        const json::object* fn = call ? GetObject(*call, "function") : nullptr;
        if (!fn) {
          return Bad("response tool_calls[" + std::to_string(i) +
                     "] has no function: " + Snippet(json::serialize((*calls)[i])));
        }
        ToolCall tc;
        tc.id = GetString(*call, "id");
        tc.name = GetString(*fn, "name");
        tc.arguments_json = ArgumentsText(fn->if_contains("arguments"));
        r.tool_calls.push_back(std::move(tc));
      }
    }
    r.finish_reason = GetString((*choices)[0].get_object(), "finish_reason");
    wire::ReadMessageInfo(*o, "prompt_tokens", "completion_tokens", r);
    return r;
  }

  std::unique_ptr<StreamAccumulator> NewStream() const override {
    return std::make_unique<OpenAiStream>();
  }

  FailureClass ClassifyError(int status, std::string_view body,
                             std::string* message) const override {
    return wire::ClassifyError(status, body, message, IsSpendLimit);
  }
};

}  // namespace

std::unique_ptr<ProviderAdapter> NewOpenAiAdapter() { return std::make_unique<OpenAiAdapter>(); }

}  // namespace keel::gateway
