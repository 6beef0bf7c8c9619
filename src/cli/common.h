#pragma once

#include <CLI/CLI.hpp>
#include <boost/json/value.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "client/http_client.h"

// What the subcommands of `keel` share: exit codes, the --server/--json options, and the
// call-the-server-or-explain-why helper.
namespace keel::cli {

enum ExitCode : int {
  kExitOk = 0,         // done; a run succeeded, or was accepted and not waited for
  kExitRunFailed = 1,  // the run ended failed, cancelled, timed_out, budget_exhausted,
                       // compensated or compensation_failed
  kExitUsage = 2,      // bad command line, invalid --payload JSON, bad --server URL
  kExitServer = 3,     // the server could not be reached or answered an error
};

// Set by a subcommand's parse callback, run by main() once parsing succeeded.
using Action = std::function<int()>;

struct ClientOptions {
  std::string server;  // default: $KEEL_SERVER, else http://127.0.0.1:8080
  bool json = false;   // print the server's JSON instead of text
};

// Adds --server and --json to a client subcommand.
void AddClientOptions(CLI::App* command, ClientOptions* options);
std::string DefaultServerUrl();

// Registration of each subcommand; `action` is set when that subcommand was given.
void AddServeCommand(CLI::App& app, Action* action);
void AddRunCommand(CLI::App& app, ClientOptions* options, Action* action);
void AddRunsCommand(CLI::App& app, ClientOptions* options, Action* action);
void AddControlCommands(CLI::App& app, ClientOptions* options, Action* action);
void AddStatusCommand(CLI::App& app, ClientOptions* options, Action* action);
void AddApprovalsCommand(CLI::App& app, ClientOptions* options, Action* action);
void AddOutboxCommand(CLI::App& app, ClientOptions* options, Action* action);

// Prints "error: <what>" to stderr and returns kExitUsage.
int UsageError(std::string_view what);

// A client for --server; nullopt (after printing a usage error) when the URL is invalid.
// `timeout_ms` bounds each request.
std::optional<client::HttpClient> MakeClient(const ClientOptions& options,
                                             int64_t timeout_ms = 30000);

// Sends a request. Returns the response when the status is 2xx; otherwise prints
// "error: <code>: <message>" to stderr and returns nullopt (the caller exits kExitServer).
std::optional<client::Response> Call(client::HttpClient& client, std::string_view method,
                                     const std::string& target, const std::string& body = {});

// Parses a 2xx response body that must be a JSON object; prints an error when it is not.
std::optional<boost::json::object> ResponseObject(const client::Response& response);

// Validates JSON given on the command line (`flag` names it in the error message).
std::optional<boost::json::value> ParseJsonFlag(std::string_view flag, std::string_view text);

// Prints a body as received, with a final newline.
void PrintRaw(const std::string& body);

// "/v1/runs/<id>" with the id percent-encoded.
std::string RunPath(std::string_view run_id);

}  // namespace keel::cli
