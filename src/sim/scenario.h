#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "sim/chat.h"
#include "sim/faults.h"

namespace keel::sim {

// A scripted conversation (docs/llm_simulator.md, "Scenarios"): rules tried in order, the first
// whose every `when` condition holds answers with its `reply`.

struct When {
  std::optional<std::string> model;
  std::optional<std::string> last_user_contains;
  std::optional<std::string> last_role;
  std::optional<std::string> has_tool;
  std::optional<std::string> tool_result_contains;
  std::optional<std::string> tool_name;
  std::optional<int64_t> turn;
};

struct ToolCallSpec {
  std::string name;
  boost::json::value arguments;  // an object, or a string sent verbatim as the JSON text
};

struct ReplySpec {
  std::optional<std::string> content;  // may hold {{last_user}} {{tool_result}} {{model}} {{turn}}
  std::vector<ToolCallSpec> tool_calls;
  std::optional<int64_t> input_tokens;
  std::optional<int64_t> output_tokens;
  std::optional<std::string> finish_reason;  // OpenAI vocabulary (Anthropic names are mapped)
};

struct Rule {
  When when;
  ReplySpec reply;
  // A rule answers every time its conditions hold (so a rule can drive an endless tool loop).
  // With "repeat": false it answers at most once per conversation: it is skipped when it
  // already answered an earlier turn of the same message history (worked out from the
  // messages, so the simulator stays stateless and a retried request gets the same answer).
  bool repeat = true;
};

struct Scenario {
  enum class Default { kEcho, kError, kReply };
  std::vector<Rule> rules;
  Default default_mode = Default::kEcho;
  ReplySpec default_reply;           // for kReply
  std::optional<FaultTable> faults;  // present when the scenario sets "faults"

  // Models the scenario names (rules' when.model, fault keys that are model names).
  std::vector<std::string> Models() const;
};

Result<Scenario> ParseScenario(const boost::json::value& v);

// Facts about a conversation prefix that rules test and templates use.
struct ConversationFacts {
  std::string last_role;    // role of the last message ("" when none)
  std::string last_user;    // text of the last user message
  std::string tool_result;  // text of the last tool message
  std::string tool_name;    // tool name of the last tool message
  int64_t turn = 1;         // assistant messages so far + 1
};
ConversationFacts FactsOf(const std::vector<Message>& messages, size_t count);

bool Matches(const When& when, const ChatRequest& req, const ConversationFacts& facts);

// Replaces the {{...}} placeholders; unknown ones are left as they are (ParseScenario rejects
// them up front).
std::string ExpandTemplate(const std::string& text, const ChatRequest& req,
                           const ConversationFacts& facts);

// The answer to `req`: content, tool calls (without ids), finish reason and token counts.
// Error (kInvalidArgument) when no rule matched and the scenario's default is "error".
Result<Completion> Respond(const Scenario& scenario, const ChatRequest& req);

// Token count of the request: ceil(characters of every message's text and tool calls / 4).
int64_t InputTokens(const ChatRequest& req);
// Token count of an answer: ceil(characters of its content and tool-call names+arguments / 4).
int64_t OutputTokens(const std::string& content, const std::vector<ToolCall>& calls);

}  // namespace keel::sim
