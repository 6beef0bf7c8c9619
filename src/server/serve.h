#pragma once

#include <optional>
#include <string>

namespace keel::server {

// What `keel serve` was asked for on its command line. Unset fields come from the config file
// (`--config`, TOML, see docs/configuration.md), then from built-in defaults.
struct ServeFlags {
  std::optional<std::string> data_dir;       // default ./data
  std::optional<std::string> listen;         // default 127.0.0.1:8080; port 0 picks a free one
  std::optional<std::string> workflows_dir;  // default ./examples
  std::optional<std::string> lib_dir;        // Keel's Lua library (the agent loop); ./lib
  std::optional<std::string> config_file;
  std::optional<std::string> port_file;  // written with the bound port once listening
};

// Runs the server until SIGTERM/SIGINT, then drains. Returns the process exit code:
// 0 after a clean drain, 1 on a start-up error (printed as one line to stderr).
int Serve(const ServeFlags& flags);

}  // namespace keel::server
