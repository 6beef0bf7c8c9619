#pragma once

// The part of streaming that every provider's Server-Sent Events body shares; private to this
// folder.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "gateway/http/sse_parser.h"
#include "gateway/providers/provider.h"

namespace keel::gateway::wire {

// A StreamAccumulator over an event stream: it hands each event to OnEvent until the one that
// ends the response, keeps the first error (every later call returns it again) and names the
// provider in every error.
class SseStream : public StreamAccumulator {
 public:
  using TextFn = std::function<void(std::string_view)>;

  Status Feed(std::string_view bytes, const TextFn& on_text) final;
  Result<ChatResponse> Finish() final;

 protected:
  // `provider` starts every error ("openai"); `end_event` names the event a complete stream
  // ends with ("[DONE]"), for the error when it stops short of it.
  SseStream(std::string provider, std::string end_event);

  // One event, before the end event. Sets `complete_` when it is the end event.
  virtual Status OnEvent(const SseEvent& e, const TextFn& on_text) = 0;
  // Adds what arrived in pieces (tool calls) to the finished response.
  virtual void AddToolCalls(ChatResponse& r) const = 0;

  // "<provider>: <what>", kInvalidArgument.
  Error Bad(const std::string& what) const;
  // Appends a text delta to the response and reports it.
  void Text(std::string_view text, const TextFn& on_text);

  ChatResponse response_;
  bool complete_ = false;  // the end event arrived: what follows is not part of the response

 private:
  Status Dispatch(const SseEvent& e, const TextFn& on_text);
  Status Check(Status s);

  std::string prefix_;  // "openai: "
  std::string end_event_;
  SseParser parser_;
  std::optional<Error> failed_;
};

}  // namespace keel::gateway::wire
