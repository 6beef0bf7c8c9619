#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "model/run.h"

namespace keel::model {

// An agent: a declarative spec run by the standard agent loop (lib/keel/agent.lua). Loaded
// from the [agents.<name>] tables of the configuration (docs/agents.md).
struct AgentSpec {
  std::string name;  // also the intent that runs it
  std::string description;
  std::string model;  // a model or chain name; empty: the gateway's default
  std::string system_prompt;
  std::vector<std::string> tools;  // tool names from the gateway configuration
  Budget budget;                   // defaults for fields a caller leaves at 0
  // The same model request, or the same tool with the same arguments, seen this many times
  // in one run ends it with loop_detected. 0: off.
  int loop_max_repeats = 3;
  // Near a limit (this share of max_tokens, max_cost_usd or max_steps used), the loop
  // switches to the chain's last (cheapest) model and asks the model to conclude.
  double degrade_at = 0.8;
  int64_t max_turns = 20;            // model calls per agent run (a safety net under max_steps)
  boost::json::value output_schema;  // JSON Schema of the final answer; null: free text
  bool stream = true;                // stream model tokens to the run's event stream
};

// The spec as the agent loop reads it (ctx journals it as a config entry at first use).
// "tools" is filled in by the engine with each tool's name, description and parameters.
boost::json::object AgentSpecToJson(const AgentSpec& spec);

}  // namespace keel::model
