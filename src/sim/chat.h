#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace keel::sim {

// The provider-neutral form of a chat request and of the simulator's answer. openai.cc and
// anthropic.cc translate their wire formats to and from these, so scenarios, faults and
// accounting are written once for both APIs.

enum class Api { kOpenAi, kAnthropic, kTool };

inline const char* ApiName(Api api) {
  switch (api) {
    case Api::kOpenAi:
      return "openai";
    case Api::kAnthropic:
      return "anthropic";
    case Api::kTool:
      return "tool";
  }
  return "";
}

struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;  // JSON text (not necessarily valid: see the bad_tool_args fault)
};

struct Message {
  std::string role;  // "system", "user", "assistant" or "tool"
  std::string text;
  std::vector<ToolCall> tool_calls;  // assistant
  std::string tool_call_id;          // tool: the call it answers
  std::string tool_name;             // tool: name of that call, when an earlier message made it
};

struct ChatRequest {
  Api api = Api::kOpenAi;
  std::string model;
  std::vector<Message> messages;
  std::vector<std::string> tools;  // names of the tools offered
  int64_t max_tokens = 0;          // 0: no limit
  bool stream = false;
  bool include_usage = false;  // OpenAI stream_options.include_usage
  std::string fingerprint;     // see Fingerprint() in json_util.h
};

// finish_reason uses the OpenAI vocabulary ("stop", "tool_calls", "length"); the Anthropic
// renderer maps it to end_turn / tool_use / max_tokens.
struct Completion {
  std::string id;  // chatcmpl-<n> / msg_<n>
  std::string model;
  int64_t created = 0;  // Unix seconds
  std::string content;
  std::vector<ToolCall> tool_calls;
  std::string finish_reason = "stop";
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  bool omit_usage = false;
};

}  // namespace keel::sim
