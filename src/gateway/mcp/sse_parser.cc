#include "gateway/mcp/sse_parser.h"

namespace keel::gateway::mcp {

void SseParser::Feed(std::string_view chunk, const EventFn& on_event) {
  for (char c : chunk) {
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n') continue;
    }
    if (c == '\r' || c == '\n') {
      after_cr_ = c == '\r';
      std::string line;
      line.swap(line_);
      Line(line, on_event);
    } else {
      line_.push_back(c);
    }
  }
}

void SseParser::Line(std::string_view line, const EventFn& on_event) {
  if (line.empty()) {
    if (has_data_) {
      std::string data;
      data.swap(data_);
      has_data_ = false;
      on_event(data);
    }
    return;
  }
  if (line.front() == ':') return;
  std::string_view field = line, value;
  if (size_t colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field != "data") return;
  if (has_data_) data_.push_back('\n');
  data_.append(value);
  has_data_ = true;
}

}  // namespace keel::gateway::mcp
