// keel cancel / interrupt / signal: act on a running run.

#include <boost/json/serialize.hpp>
#include <iostream>
#include <memory>

#include "cli/common.h"
#include "cli/output.h"

namespace keel::cli {

namespace json = boost::json;

namespace {

struct ControlFlags {
  std::string id;
  std::string name;     // signal
  std::string input;    // interrupt
  std::string payload;  // signal
  CLI::Option* payload_opt = nullptr;
  bool compensate = false;  // cancel
};

// Sends one POST and prints `confirmation` (or the raw answer with --json).
int Post(const ClientOptions& options, const std::string& target, const std::string& body,
         const std::string& confirmation) {
  auto client = MakeClient(options);
  if (!client) return kExitUsage;
  auto response = Call(*client, "POST", target, body);
  if (!response) return kExitServer;
  if (options.json) {
    PrintRaw(response->body);
  } else {
    std::cout << confirmation << "\n";
  }
  return kExitOk;
}

int Cancel(const ControlFlags& f, const ClientOptions& options) {
  if (!f.compensate)
    return Post(options, RunPath(f.id) + "/cancel", {}, "run " + f.id + " cancelled");
  auto client = MakeClient(options);
  if (!client) return kExitUsage;
  auto response = Call(*client, "POST", RunPath(f.id) + "/cancel", R"({"compensate":true})");
  if (!response) return kExitServer;
  if (options.json) {
    PrintRaw(response->body);
    return kExitOk;
  }
  auto run = ResponseObject(*response);
  if (!run) return kExitServer;
  std::cout << FormatCancelOutcome(*run) << "\n";
  return kExitOk;
}

int Interrupt(const ControlFlags& f, const ClientOptions& options) {
  if (!ParseJsonFlag("--input", f.input)) return kExitUsage;
  // Spliced as written, like `keel run --payload`.
  return Post(options, RunPath(f.id) + "/interrupt", "{\"input\":" + f.input + "}",
              "interrupt sent to run " + f.id);
}

int Signal(const ControlFlags& f, const ClientOptions& options) {
  bool has_payload = f.payload_opt->count() > 0;
  if (has_payload && !ParseJsonFlag("--payload", f.payload)) return kExitUsage;
  return Post(options, RunPath(f.id) + "/signals/" + client::UrlEncode(f.name),
              has_payload ? f.payload : std::string(), "signal " + f.name + " sent to run " + f.id);
}

void Register(CLI::App* cmd, std::shared_ptr<ControlFlags> f, ClientOptions* options,
              Action* action, int (*fn)(const ControlFlags&, const ClientOptions&)) {
  AddClientOptions(cmd, options);
  cmd->callback(
      [f, options, action, fn] { *action = [f, options, fn] { return fn(*f, *options); }; });
}

}  // namespace

void AddControlCommands(CLI::App& app, ClientOptions* options, Action* action) {
  {
    CLI::App* cmd = app.add_subcommand("cancel", "Cancel a run (and its child runs)");
    auto f = std::make_shared<ControlFlags>();
    cmd->add_option("ID", f->id, "Run id")->required();
    cmd->add_flag("--compensate", f->compensate,
                  "Run the undo steps the run registered first; it then ends compensated");
    Register(cmd, f, options, action, Cancel);
  }
  {
    CLI::App* cmd = app.add_subcommand("interrupt", "Send an interrupt (new input) to a run");
    auto f = std::make_shared<ControlFlags>();
    cmd->add_option("ID", f->id, "Run id")->required();
    cmd->add_option("--input", f->input, "The interrupt's input, as JSON")->required();
    Register(cmd, f, options, action, Interrupt);
  }
  {
    CLI::App* cmd = app.add_subcommand("signal", "Send a named signal to a waiting run");
    auto f = std::make_shared<ControlFlags>();
    cmd->add_option("ID", f->id, "Run id")->required();
    cmd->add_option("NAME", f->name, "Signal name")->required();
    f->payload_opt = cmd->add_option("--payload", f->payload, "The signal's payload, as JSON");
    Register(cmd, f, options, action, Signal);
  }
}

}  // namespace keel::cli
