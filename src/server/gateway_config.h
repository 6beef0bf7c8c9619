#pragma once

#include <map>
#include <string>

#include <toml++/toml.h>

#include "base/result.h"
#include "gateway/config.h"
#include "model/agent.h"

namespace keel::server {

// The [gateway], [providers.*], [models.*], [chains.*], [mcp_servers.*] and [tools.*] tables
// of the configuration (docs/configuration.md). Relative paths (Lua tool files) are resolved
// against `config_dir`, the directory of the configuration file, and stored absolute.
// Provider API keys are read here, from the environment or a file, never from the TOML text.
// Unknown keys, bad values and dangling references are errors that name the key.
Result<gateway::GatewayConfig> ParseGatewayConfig(const toml::table& root,
                                                  const std::string& config_dir);

// The [agents.*] tables (docs/agents.md), checked against the parsed gateway: every model
// and tool an agent names must exist. system_prompt_file is relative to `config_dir`.
Result<std::map<std::string, model::AgentSpec>> ParseAgents(const toml::table& root,
                                                            const gateway::GatewayConfig& gw,
                                                            const std::string& config_dir);

// A TOML value as JSON: tables become objects, arrays arrays; dates and times become their
// TOML text.
boost::json::value TomlToJson(const toml::node& node);

}  // namespace keel::server
