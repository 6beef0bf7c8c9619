// OpenAI Chat Completions (also what vLLM, llama.cpp, Ollama and most gateways speak).

#include <map>
#include <optional>

#include "gateway/providers/adapters.h"
#include "gateway/providers/sse_parser.h"
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

class OpenAiStream final : public StreamAccumulator {
 public:
  Status Feed(std::string_view bytes,
              const std::function<void(std::string_view)>& on_text) override {
    if (failed_) return *failed_;
    Status s = parser_.Feed(bytes, [&](const SseEvent& e) { return OnEvent(e, on_text); });
    return Check(std::move(s));
  }

  Result<ChatResponse> Finish() override {
    if (failed_) return *failed_;
    if (!done_) {
      Status s = Check(parser_.Flush([&](const SseEvent& e) { return OnEvent(e, {}); }));
      if (!s.ok()) return s.error();
    }
    if (!done_) return Bad("stream ended before [DONE]");
    ChatResponse r = response_;
    for (auto& [index, call] : calls_) r.tool_calls.push_back(call);
    return r;
  }

 private:
  Status Check(Status s) {
    if (s.ok()) return s;
    Error e = s.error();
    if (!e.message.starts_with("openai: ")) e.message = "openai: " + e.message;
    failed_ = e;
    return e;
  }

  Status OnEvent(const SseEvent& e, const std::function<void(std::string_view)>& on_text) {
    if (done_) return OkStatus();  // anything after [DONE] is not part of this response
    if (e.data == "[DONE]") {
      done_ = true;
      return OkStatus();
    }
    auto parsed = wire::ParseJson(e.data);
    if (!parsed.ok()) {
      return Bad("stream event is not JSON (" + parsed.error().message + "): " + Snippet(e.data));
    }
    const json::object* chunk = parsed->if_object();
    if (!chunk) return Bad("stream event is not a JSON object: " + Snippet(e.data));
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
    if (const json::object* usage = GetObject(*chunk, "usage")) {
      response_.usage.input_tokens = GetInt(*usage, "prompt_tokens");
      response_.usage.output_tokens = GetInt(*usage, "completion_tokens");
      response_.usage_reported = true;
    }
    return OkStatus();
  }

  Status OnDelta(const json::object& delta, std::string_view data,
                 const std::function<void(std::string_view)>& on_text) {
    if (const json::value* c = delta.if_contains("content"); c && !c->is_null()) {
      if (!c->is_string()) return Bad("stream delta content is not a string: " + Snippet(data));
      std::string_view text = c->get_string();
      if (!text.empty()) {
        response_.content += text;
        if (on_text) on_text(text);
      }
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

  SseParser parser_;
  ChatResponse response_;
  std::map<int64_t, ToolCall> calls_;  // by the stream's tool call index
  bool done_ = false;
  std::optional<Error> failed_;
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
    if (const json::array* tools = GetArray(request, "tools"); tools && !tools->empty()) {
      json::array wire_tools;
      for (const json::value& t : *tools) {
        const json::object* tool = t.if_object();
        if (!tool) continue;
        json::object fn;
        fn["name"] = GetString(*tool, "name");
        if (const json::value* d = tool->if_contains("description"); d && !d->is_null()) {
          fn["description"] = *d;
        }
        if (const json::value* p = tool->if_contains("parameters"); p && !p->is_null()) {
          fn["parameters"] = *p;
        }
        wire_tools.push_back(json::object{{"type", "function"}, {"function", std::move(fn)}});
      }
      body["tools"] = std::move(wire_tools);
    }
    for (std::string_view key : {"max_tokens", "temperature"}) {
      if (const json::value* v = request.if_contains(key); v && v->is_number()) body[key] = *v;
    }
    if (stream) {
      body["stream"] = true;
      body["stream_options"] = {{"include_usage", true}};
    }

    HttpRequest http;
    http.method = "POST";
    http.url = wire::JoinUrl(provider.base_url, "chat/completions");
    std::vector<std::pair<std::string, std::string>> headers = {
        {"Content-Type", "application/json"}};
    if (stream) headers.emplace_back("Accept", "text/event-stream");
    if (!provider.api_key.empty())
      headers.emplace_back("Authorization", "Bearer " + provider.api_key);
    http.headers = wire::MergeHeaders(std::move(headers), provider.headers);
    http.body = json::serialize(body);
    return http;
  }

  Result<ChatResponse> ParseResponse(std::string_view body) const override {
    auto parsed = wire::ParseJson(body);
    if (!parsed.ok()) {
      return Bad("response is not JSON (" + parsed.error().message + "): " + Snippet(body));
    }
    const json::object* o = parsed->if_object();
    if (!o) return Bad("response is not a JSON object: " + Snippet(body));
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
    if (const json::object* usage = GetObject(*o, "usage")) {
      r.usage.input_tokens = GetInt(*usage, "prompt_tokens");
      r.usage.output_tokens = GetInt(*usage, "completion_tokens");
      r.usage_reported = true;
    }
    r.provider_model = GetString(*o, "model");
    r.response_id = GetString(*o, "id");
    return r;
  }

  std::unique_ptr<StreamAccumulator> NewStream() const override {
    return std::make_unique<OpenAiStream>();
  }

  FailureClass ClassifyError(int status, std::string_view body,
                             std::string* message) const override {
    wire::ProviderError pe = wire::ParseProviderError(body);
    if (message) *message = pe.message.empty() ? wire::StatusMessage(status, body) : pe.message;
    auto is_quota = [](std::string_view s) {
      return s == "insufficient_quota" || s == "billing_hard_limit_reached";
    };
    // A 429 is usually a rate limit worth waiting out, but an exhausted quota is not.
    if (status == 429 && (is_quota(pe.type) || is_quota(pe.code))) return FailureClass::kSpendLimit;
    return wire::ClassifyStatus(status);
  }
};

}  // namespace

std::unique_ptr<ProviderAdapter> NewOpenAiAdapter() { return std::make_unique<OpenAiAdapter>(); }

}  // namespace keel::gateway
