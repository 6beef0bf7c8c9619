// keel: the server (`keel serve`) and a command-line client of its HTTP API.
// Exit codes: 0 ok, 1 the run ended unsuccessfully, 2 usage error, 3 server unreachable or
// answered an error (see cli/common.h).

#include <iostream>

#include "cli/common.h"

#ifndef KEEL_VERSION
#define KEEL_VERSION "dev"
#endif

int main(int argc, char** argv) {
  using namespace keel::cli;
  CLI::App app{"Keel: a durable-execution runtime for AI agents", "keel"};
  app.set_version_flag("--version", KEEL_VERSION);
  app.require_subcommand(1);

  ClientOptions options{DefaultServerUrl(), false};
  // Accepted before the subcommand too (`keel --json runs ls`); subcommands repeat them.
  AddClientOptions(&app, &options);
  Action action;
  AddServeCommand(app, &action);
  AddRunCommand(app, &options, &action);
  AddRunsCommand(app, &options, &action);
  AddControlCommands(app, &options, &action);
  AddStatusCommand(app, &options, &action);
  AddApprovalsCommand(app, &options, &action);
  AddOutboxCommand(app, &options, &action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);  // prints help/version to stdout, errors to stderr
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (!action) return kExitUsage;
  try {
    return action();
  } catch (const std::exception& e) {
    // A bug of ours (every expected failure is a value); still one line and a failing status.
    std::cerr << "error: internal: " << e.what() << "\n";
    return kExitServer;
  }
}
