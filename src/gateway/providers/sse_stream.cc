#include "gateway/providers/sse_stream.h"

#include <utility>

namespace keel::gateway::wire {

SseStream::SseStream(std::string provider, std::string end_event)
    : prefix_(std::move(provider) + ": "), end_event_(std::move(end_event)) {}

Status SseStream::Feed(std::string_view bytes, const TextFn& on_text) {
  if (failed_) return *failed_;
  Status s = parser_.Feed(bytes, [&](const SseEvent& e) { return Dispatch(e, on_text); });
  return Check(std::move(s));
}

Result<ChatResponse> SseStream::Finish() {
  if (failed_) return *failed_;
  if (!complete_) {
    Status s = Check(parser_.Flush([&](const SseEvent& e) { return Dispatch(e, {}); }));
    if (!s.ok()) return s.error();
  }
  if (!complete_) return Bad("stream ended before " + end_event_);
  ChatResponse r = response_;
  AddToolCalls(r);
  return r;
}

Error SseStream::Bad(const std::string& what) const {
  return Error{Errc::kInvalidArgument, prefix_ + what};
}

void SseStream::Text(std::string_view text, const TextFn& on_text) {
  if (text.empty()) return;
  response_.content += text;
  if (on_text) on_text(text);
}

Status SseStream::Dispatch(const SseEvent& e, const TextFn& on_text) {
  if (complete_) return OkStatus();
  return OnEvent(e, on_text);
}

// Errors from the parser (an over-long line) do not name the provider yet.
Status SseStream::Check(Status s) {
  if (s.ok()) return s;
  Error e = s.error();
  if (!e.message.starts_with(prefix_)) e.message = prefix_ + e.message;
  failed_ = e;
  return e;
}

}  // namespace keel::gateway::wire
