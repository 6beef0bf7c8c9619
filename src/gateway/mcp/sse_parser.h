#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace keel::gateway::mcp {

// Incremental parser of a text/event-stream body: feed it bytes as they arrive and it hands
// over the data of each complete event (its data: lines joined with "\n"). Other fields
// (event:, id:, retry:) and comments are skipped: MCP only needs the data.
class SseParser {
 public:
  using EventFn = std::function<void(std::string_view data)>;
  void Feed(std::string_view chunk, const EventFn& on_event);

 private:
  void Line(std::string_view line, const EventFn& on_event);
  std::string line_;  // the line being read
  std::string data_;  // data of the event being read
  bool has_data_ = false;
  bool after_cr_ = false;  // the last byte was '\r': a following '\n' ends nothing more
};

}  // namespace keel::gateway::mcp
