// keel status: the node's engine and gateway state (GET /v1/status).

#include <iostream>

#include "base/clock.h"
#include "cli/common.h"
#include "cli/status_view.h"

namespace keel::cli {

namespace {

int StatusCommand(const ClientOptions& options) {
  auto client = MakeClient(options);
  if (!client) return kExitUsage;
  auto response = Call(*client, "GET", "/v1/status");
  if (!response) return kExitServer;
  if (options.json) {
    PrintRaw(response->body);
    return kExitOk;
  }
  auto status = ResponseObject(*response);
  if (!status) return kExitServer;
  std::cout << FormatStatus(*status, SystemClock::Instance().WallMs());
  return kExitOk;
}

}  // namespace

void AddStatusCommand(CLI::App& app, ClientOptions* options, Action* action) {
  CLI::App* cmd =
      app.add_subcommand("status", "Show the server's engine state and circuit breakers");
  AddClientOptions(cmd, options);
  cmd->callback([options, action] { *action = [options] { return StatusCommand(*options); }; });
}

}  // namespace keel::cli
