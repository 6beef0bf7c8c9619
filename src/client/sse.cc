#include "client/sse.h"

namespace keel::client {

bool SseParser::Feed(std::string_view bytes, const Callback& on_event) {
  size_t i = 0;
  if (at_start_ && !bytes.empty()) {
    // A UTF-8 byte order mark may open the stream; it is not part of the first field name.
    // (Only recognised when it arrives in one piece, which every server we know does.)
    if (bytes.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
    at_start_ = false;
  }
  for (; i < bytes.size(); ++i) {
    char c = bytes[i];
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n') continue;  // the second half of a CRLF split across reads
    }
    if (c == '\r' || c == '\n') {
      after_cr_ = (c == '\r');
      std::string line = std::move(line_);
      line_.clear();
      if (!ProcessLine(line, on_event)) return false;
    } else {
      line_.push_back(c);
    }
  }
  return true;
}

bool SseParser::ProcessLine(std::string_view line, const Callback& on_event) {
  if (line.empty()) {
    // Dispatch. The event type and data reset; the id persists.
    bool keep_going = true;
    if (has_data_) {
      if (!data_.empty() && data_.back() == '\n') data_.pop_back();
      keep_going = on_event(last_id_, event_.empty() ? std::string("message") : event_, data_);
    }
    event_.clear();
    data_.clear();
    has_data_ = false;
    return keep_going;
  }
  if (line.front() == ':') return true;  // comment
  std::string_view field = line;
  std::string_view value;
  if (size_t colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "event") {
    event_ = std::string(value);
  } else if (field == "data") {
    data_.append(value);
    data_.push_back('\n');
    has_data_ = true;
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) last_id_ = std::string(value);
  }
  // "retry" and unknown fields are ignored.
  return true;
}

}  // namespace keel::client
