#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace keel::client {

// Incremental parser of a text/event-stream body (WHATWG HTML, "Server-sent events", 9.2.6).
// Feed bytes as they arrive, split anywhere (even inside a CRLF); each complete event is handed
// to the callback. Comment lines (": keepalive") and "retry" are ignored; an event without any
// data line is not dispatched, as the spec says. Not thread-safe.
class SseParser {
 public:
  // Returns false to stop; Feed then returns false and ignores the rest of its input.
  using Callback =
      std::function<bool(const std::string& id, const std::string& event, const std::string& data)>;

  explicit SseParser(std::string initial_last_id = {}) : last_id_(std::move(initial_last_id)) {}

  // Returns false once the callback asked to stop.
  bool Feed(std::string_view bytes, const Callback& on_event);

  // The last event id seen (persists across events).
  const std::string& last_id() const { return last_id_; }

 private:
  bool ProcessLine(std::string_view line, const Callback& on_event);

  std::string line_;
  std::string event_;
  std::string data_;
  bool has_data_ = false;
  std::string last_id_;
  bool after_cr_ = false;
  bool at_start_ = true;
};

}  // namespace keel::client
