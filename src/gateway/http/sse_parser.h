#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace keel::gateway {

// One Server-Sent Event: its `event:` name ("" when none was given) and its `data:` lines
// joined with "\n".
struct SseEvent {
  std::string event;
  std::string data;
};

// Splits a byte stream into Server-Sent Events (the WHATWG EventSource format) however the
// bytes are cut: lines end in "\n", "\r\n" or "\r"; a blank line ends an event; ":" lines are
// comments; "id:" and "retry:" are ignored. Streaming model responses (providers/) and MCP's
// streamable HTTP (mcp/) both read their bodies with it. Not thread-safe.
class SseParser {
 public:
  using EventFn = std::function<Status(const SseEvent& event)>;

  // A line longer than this is taken to be garbage rather than buffered without end.
  static constexpr size_t kMaxLineBytes = 8 << 20;

  // Feeds bytes; `on_event` runs for each event completed by them. Stops at, and returns,
  // the first error `on_event` returns, or kInvalidArgument for an over-long line.
  Status Feed(std::string_view bytes, const EventFn& on_event);

  // At the end of the stream: dispatches an event whose data lines arrived without the blank
  // line that should end it (servers often omit the last one).
  Status Flush(const EventFn& on_event);

 private:
  Status Line(std::string_view line, const EventFn& on_event);

  std::string line_;       // the current, unfinished line
  bool after_cr_ = false;  // the last byte was "\r": a "\n" right after it ends nothing
  bool has_data_ = false;  // a data: field was seen in the current event
  SseEvent event_;
};

}  // namespace keel::gateway
