#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "base/result.h"
#include "gateway/chat.h"
#include "gateway/config.h"
#include "gateway/http/async_http.h"

namespace keel::gateway {

// What a failed provider exchange means for the policy chain.
enum class FailureClass {
  kRetryable,   // 429 (not a spend limit), 5xx, 529, connect/reset/timeout/stall, malformed body
  kPermanent,   // 400, 401, 403, 404, 422: the same request will fail again
  kSpendLimit,  // the account is out of credit or quota: never retried
  kCancelled,
};

// Accumulates one streamed response (Server-Sent Events bytes, in whatever pieces they
// arrive) and reports text deltas as they complete.
class StreamAccumulator {
 public:
  virtual ~StreamAccumulator() = default;
  // Feeds raw bytes. kInvalidArgument when an event is malformed (the message says which).
  virtual Status Feed(std::string_view bytes,
                      const std::function<void(std::string_view text)>& on_text) = 0;
  // The complete response once the stream ended. kInvalidArgument when it ended early (no
  // terminal event: "[DONE]" for OpenAI, "message_stop" for Anthropic).
  virtual Result<ChatResponse> Finish() = 0;
};

// Translates the neutral format (chat.h) to one wire protocol. Stateless, thread-safe.
class ProviderAdapter {
 public:
  virtual ~ProviderAdapter() = default;
  // The HTTP request for `request` against upstream model `model_id`, with the provider's
  // auth headers. Timeouts are left for the caller to set.
  virtual HttpRequest BuildRequest(const ProviderConfig& provider, const std::string& model_id,
                                   const boost::json::object& request, bool stream) const = 0;
  // Parses a complete 2xx body. kInvalidArgument (message names what is wrong) if malformed.
  virtual Result<ChatResponse> ParseResponse(std::string_view body) const = 0;
  virtual std::unique_ptr<StreamAccumulator> NewStream() const = 0;
  // Classifies a non-2xx response; `message` receives the provider's error text.
  virtual FailureClass ClassifyError(int status, std::string_view body,
                                     std::string* message) const = 0;
};

// "openai" (Chat Completions, also vLLM, llama.cpp, Ollama...) or "anthropic" (Messages).
// nullptr for an unknown kind.
std::unique_ptr<ProviderAdapter> MakeAdapter(std::string_view kind);

}  // namespace keel::gateway
