#include <memory>

#include "cli/common.h"
#include "server/serve.h"

namespace keel::cli {

void AddServeCommand(CLI::App& app, Action* action) {
  CLI::App* cmd = app.add_subcommand("serve", "Run the Keel server until SIGTERM/SIGINT");
  auto flags = std::make_shared<server::ServeFlags>();
  // Only the flags given are set: the others come from --config, then from defaults.
  auto optional = [&](const char* name, std::optional<std::string>* field, const char* help) {
    cmd->add_option_function<std::string>(
        name, [field](const std::string& value) { *field = value; }, help);
  };
  optional("--data-dir", &flags->data_dir, "Directory of the database (default ./data)");
  optional("--listen", &flags->listen, "HOST:PORT to listen on (default 127.0.0.1:8080)");
  optional("--workflows", &flags->workflows_dir, "Directory of workflows (default ./examples)");
  optional("--lib", &flags->lib_dir, "Keel's Lua library, holding the agent loop (default ./lib)");
  optional("--config", &flags->config_file, "TOML configuration file");
  optional("--port-file", &flags->port_file, "Write the bound port to this file once listening");
  cmd->callback([flags, action] { *action = [flags] { return server::Serve(*flags); }; });
}

}  // namespace keel::cli
