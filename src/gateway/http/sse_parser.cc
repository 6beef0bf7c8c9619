#include "gateway/http/sse_parser.h"

#include <utility>

namespace keel::gateway {

Status SseParser::Feed(std::string_view bytes, const EventFn& on_event) {
  size_t i = 0;
  while (i < bytes.size()) {
    if (after_cr_) {
      after_cr_ = false;
      if (bytes[i] == '\n') {
        ++i;
        continue;
      }
    }
    size_t end = bytes.find_first_of("\r\n", i);
    if (end == std::string_view::npos) {
      if (line_.size() + (bytes.size() - i) > kMaxLineBytes) {
        return Error{Errc::kInvalidArgument,
                     "event stream line longer than " + std::to_string(kMaxLineBytes) + " bytes"};
      }
      line_.append(bytes.substr(i));
      break;
    }
    after_cr_ = bytes[end] == '\r';
    Status s = OkStatus();
    if (line_.empty()) {
      s = Line(bytes.substr(i, end - i), on_event);
    } else {
      line_.append(bytes.substr(i, end - i));
      std::string line;
      line.swap(line_);
      s = Line(line, on_event);
    }
    if (!s.ok()) return s;
    i = end + 1;
  }
  return OkStatus();
}

Status SseParser::Flush(const EventFn& on_event) {
  if (!line_.empty()) {
    std::string line;
    line.swap(line_);
    Status s = Line(line, on_event);
    if (!s.ok()) return s;
  }
  return Line("", on_event);
}

Status SseParser::Line(std::string_view line, const EventFn& on_event) {
  if (line.empty()) {
    // Per the spec an event without data is not dispatched, and its name is forgotten.
    SseEvent event;
    std::swap(event, event_);
    bool dispatch = has_data_;
    has_data_ = false;
    if (!dispatch) return OkStatus();
    if (!event.data.empty() && event.data.back() == '\n') event.data.pop_back();
    return on_event(event);
  }
  if (line.front() == ':') return OkStatus();
  size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    event_.data.append(value);
    event_.data.push_back('\n');
    has_data_ = true;
  } else if (field == "event") {
    event_.event.assign(value);
  }
  return OkStatus();
}

}  // namespace keel::gateway
