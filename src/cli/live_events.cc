#include "cli/live_events.h"

#include <boost/json/object.hpp>

#include "cli/output.h"

namespace keel::cli {

namespace json = boost::json;

namespace {

constexpr size_t kWidth = 100;

std::string OneLine(const json::value& v) {
  std::string text = v.is_string() ? std::string(v.get_string()) : CompactJson(v);
  return Sanitize(Truncate(text, kWidth));
}

// "fast -> sim-small  120 in + 30 out tokens" and the answer (unless it was streamed) or the
// tools it calls; or the error.
std::string LlmLine(const json::object& entry, bool streamed) {
  std::string asked = StrField(entry, "name");
  std::string line = "  #" + std::to_string(IntField(entry, "seq")) + " " + BranchTag(entry) +
                     "llm  " + Sanitize(asked.empty() ? "(default)" : asked);
  const json::object* result = ObjField(entry, "result");
  const json::object* response = result != nullptr ? ObjField(*result, "response") : nullptr;
  if (response == nullptr) {
    const json::object* error = result != nullptr ? ObjField(*result, "error") : nullptr;
    if (error != nullptr) {
      line += "  error " + Sanitize(StrField(*error, "code")) + ": " +
              Sanitize(Truncate(StrField(*error, "message"), kWidth));
    }
    return line;
  }
  if (std::string model = StrField(*response, "model"); !model.empty() && model != asked) {
    line += " -> " + Sanitize(model);
  }
  if (const json::object* usage = ObjField(*response, "usage")) {
    line += "  " + std::to_string(IntField(*usage, "input_tokens")) + " in + " +
            std::to_string(IntField(*usage, "output_tokens")) + " out tokens";
  }
  std::string calls;
  if (const json::array* list = ArrField(*response, "tool_calls")) {
    for (const json::value& c : *list) {
      if (const json::object* call = c.if_object()) {
        calls += (calls.empty() ? "" : ", ") + StrField(*call, "name");
      }
    }
  }
  if (!calls.empty()) {
    line += "  calls " + Sanitize(calls);
  } else if (!streamed) {
    if (const json::value* content = response->if_contains("content");
        content && !content->is_null()) {
      line += "  " + OneLine(*content);
    }
  }
  return line;
}

std::string ToolLine(const json::object& entry) {
  std::string line = "  #" + std::to_string(IntField(entry, "seq")) + " " + BranchTag(entry) +
                     "tool  " + Sanitize(StrField(entry, "name"));
  const json::object* result = ObjField(entry, "result");
  if (result == nullptr) return line;
  if (const json::value* value = result->if_contains("result")) {
    const json::object* blob = value->if_object();
    if (blob != nullptr && blob->contains("$ref")) {
      return line + "  [stored result, " + std::to_string(IntField(*blob, "bytes")) + " bytes]";
    }
    return line + "  " + OneLine(*value);
  }
  if (const json::object* error = ObjField(*result, "error")) {
    line += "  error " + Sanitize(StrField(*error, "code")) + ": " +
            Sanitize(Truncate(StrField(*error, "message"), kWidth));
  }
  return line;
}

}  // namespace

std::string LiveEventPrinter::Finish() {
  if (streaming_ < 0) return {};
  streaming_ = -1;
  return "\n";
}

std::string LiveEventPrinter::Token(int64_t seq, std::string_view text) {
  std::string out;
  if (streaming_ != seq) {
    out += Finish();
    out += "  #" + std::to_string(seq) + " llm  ";
    streaming_ = seq;
    streamed_.insert(seq);
  }
  for (char c : SanitizeMultiline(text)) {
    out.push_back(c);
    if (c == '\n') out += "    ";  // continuation lines stay under the event
  }
  return out;
}

std::string LiveEventPrinter::Attempt(const json::value& data) {
  const json::object* a = data.if_object();
  if (a == nullptr) return {};
  int64_t seq = IntField(*a, "seq");
  std::string outcome = StrField(*a, "outcome");
  if (outcome == "ok" && had_trouble_.count(seq) == 0) return {};
  if (outcome != "ok") had_trouble_.insert(seq);
  std::string line = "  #" + std::to_string(seq) + " attempt  " + Sanitize(StrField(*a, "target")) +
                     " #" + std::to_string(IntField(*a, "attempt")) + " " + Sanitize(outcome);
  if (std::string error = StrField(*a, "error"); !error.empty()) {
    line += ": " + Sanitize(Truncate(error, kWidth));
  } else if (int64_t status = IntField(*a, "http_status"); status > 0) {
    line += ": HTTP " + std::to_string(status);
  }
  if (int64_t backoff = IntField(*a, "backoff_ms"); backoff > 0) {
    line += " (next try in " + std::to_string(backoff) + " ms)";
  }
  return line + "\n";
}

std::string LiveEventPrinter::Feed(std::string_view id, std::string_view event,
                                   const json::value& data) {
  const json::object* o = data.if_object();
  if (event == "token" && o != nullptr) {
    return Token(IntField(*o, "seq"), StrField(*o, "text"));
  }
  std::string out = Finish();
  if (event == "attempt") return out + Attempt(data);
  if (event == "waiting" && o != nullptr) {
    std::string line = "  waiting  " + Sanitize(StrField(*o, "reason"));
    if (int64_t at = IntField(*o, "retry_at_ms"); at > 0) line += " until " + FormatTimeUtc(at);
    if (std::string message = StrField(*o, "message"); !message.empty()) {
      line += ": " + Sanitize(Truncate(message, 2 * kWidth));
    }
    return out + line + "\n";
  }
  if (o != nullptr && !id.empty()) {
    if (event == "llm") return out + LlmLine(*o, streamed_.count(IntField(*o, "seq")) > 0) + "\n";
    if (event == "tool") return out + ToolLine(*o) + "\n";
    // The agent loop polls for interrupts every turn: only the ones that brought input matter.
    if (event == "interrupts") {
      const json::value* taken = o->if_contains("result");
      if (taken != nullptr && taken->is_array() && taken->get_array().empty()) return out;
    }
    if (event == "config") {
      return out + "  #" + std::to_string(IntField(*o, "seq")) + " " + BranchTag(*o) + "config  " +
             Sanitize(StrField(*o, "name")) + "\n";
    }
  }
  return out + FormatEventLine(id, event, data) + "\n";
}

}  // namespace keel::cli
