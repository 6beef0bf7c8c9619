#pragma once

// Keel's provider-neutral chat format. Workflows build requests in it (ctx.llm), the journal
// stores it, and each provider adapter translates it to and from its wire protocol.
//
// Request (a JSON object):
//   {
//     "messages": [
//       {"role": "system",    "content": "You are ..."},
//       {"role": "user",      "content": "text"},
//       {"role": "assistant", "content": "text or null",
//        "tool_calls": [{"id": "call_1", "name": "get_weather", "arguments": {"city": "Oslo"}}]},
//       {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "text"}
//     ],
//     "tools": [{"name": "get_weather", "description": "...", "parameters": {JSON Schema}}],
//     "max_tokens": 512,      // optional
//     "temperature": 0.2      // optional
//   }
// A tool message's content may be any JSON value; adapters send non-strings as JSON text.
// "system" messages may appear anywhere in the list; Anthropic receives them joined into its
// top-level "system" field.

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <boost/json.hpp>

namespace keel::gateway {

struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments_json;  // as the model sent it: may be malformed
};

struct Usage {
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  bool estimated = false;  // the provider sent no usage: counted as bytes/4
};

struct ChatResponse {
  std::string content;  // the assistant's text ("" when it only calls tools)
  std::vector<ToolCall> tool_calls;
  std::string finish_reason;  // "stop", "tool_calls", "length", ... (OpenAI names)
  Usage usage;
  bool usage_reported = false;  // the provider's own numbers
  std::string provider_model;   // the model name the provider reported
  std::string response_id;      // the provider's id of this response ("chatcmpl-...", "msg_...")
};

// Rough token count of a neutral request (bytes / 4, at least 1): used for max_context checks
// and when a provider reports no usage.
int64_t EstimateTokens(const boost::json::object& request);
int64_t EstimateTokens(const std::string& text);

// The response as ctx.llm returns it to Lua:
//   {"content": "...", "tool_calls": [{"id","name","arguments": <object>}], "finish_reason",
//    "usage": {"input_tokens","output_tokens","estimated"}}
// Arguments that are not a JSON object are kept as {"$raw": "<text>"} so the tool layer can
// report them to the model as invalid.
boost::json::object ResponseToJson(const ChatResponse& r);

}  // namespace keel::gateway
