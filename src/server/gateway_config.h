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

// The HTTP tool through which approval notifications are delivered (its name cannot be taken
// by a [tools.*] table, and agents cannot be given it).
inline constexpr const char* kApprovalWebhookTool = "$approval_webhook";

// The [approvals] table (docs/configuration.md).
struct ApprovalsConfig {
  std::string webhook_url;  // "": approvals are not announced anywhere
  // The tool that receives notification intents: kApprovalWebhookTool when webhook_url is
  // set, "" otherwise.
  std::string notify_tool;
  int notify_max_attempts = 10;  // delivery attempts of one notification
};

// Reads [approvals]. With webhook_url set, adds the tool kApprovalWebhookTool to `gw` (kind
// http, POST to the URL with the table's headers, any arguments, not an effect,
// outbox_max_attempts = notify_max_attempts), so that notifications go through the outbox
// like any tool call. Call after ParseGatewayConfig and before ParseAgents.
Result<ApprovalsConfig> ParseApprovals(const toml::table& root, gateway::GatewayConfig& gw);

// The [agents.*] tables (docs/agents.md), checked against the parsed gateway: every model
// and tool an agent names must exist. system_prompt_file is relative to `config_dir`.
Result<std::map<std::string, model::AgentSpec>> ParseAgents(const toml::table& root,
                                                            const gateway::GatewayConfig& gw,
                                                            const std::string& config_dir);

// A TOML value as JSON: tables become objects, arrays arrays; dates and times become their
// TOML text.
boost::json::value TomlToJson(const toml::node& node);

}  // namespace keel::server
