// keel-llm-sim: an offline OpenAI/Anthropic-compatible LLM simulator with scripted scenarios,
// fault injection, request accounting and test tools (docs/llm_simulator.md).

#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "base/duration.h"
#include "sim/scenario.h"
#include "sim/scenario_file.h"
#include "sim/server.h"
#include "sim/simulator.h"

namespace {

constexpr int kUsageError = 2;

int Fail(const std::string& message) {
  std::cerr << "keel-llm-sim: " << message << "\n";
  return kUsageError;
}

// Written whole then renamed, so a reader polling the file never sees a partial number.
bool WritePortFile(const std::string& path, int port) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out.flush()) return false;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  return !ec;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"keel-llm-sim: offline OpenAI/Anthropic-compatible LLM simulator for testing Keel"};
  std::string listen = "127.0.0.1:8090";
  std::string port_file, scenario_path, latency = "0ms", require_key;
  uint64_t seed = 1;
  app.add_option("--listen", listen, "host:port to serve on (port 0 picks a free port)");
  app.add_option("--port-file", port_file, "write the bound port to this file once listening");
  app.add_option("--scenario", scenario_path, "scenario file (.json, or .toml)");
  app.add_option("--seed", seed, "seed of the random faults");
  app.add_option("--latency", latency, "latency added to every model request, e.g. 20ms");
  app.add_option("--require-key", require_key,
                 "require this API key (Authorization: Bearer / x-api-key)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return Fail(std::string(e.what()) + " (see --help)");
  }

  keel::sim::SimOptions options;
  options.seed = seed;
  options.require_key = require_key;
  auto latency_ms = keel::ParseDurationMs(latency);
  if (!latency_ms) return Fail("--latency " + latency + ": " + latency_ms.error().message);
  options.latency_ms = *latency_ms;

  keel::sim::Scenario scenario;
  if (!scenario_path.empty()) {
    auto doc = keel::sim::ReadScenarioFile(scenario_path);
    if (!doc) return Fail(doc.error().message);
    auto parsed = keel::sim::ParseScenario(*doc);
    if (!parsed) return Fail(scenario_path + ": " + parsed.error().message);
    scenario = std::move(*parsed);
  }

  // Signals are taken synchronously by one thread (sigwait), so every other thread, started
  // below, inherits them blocked.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  keel::sim::Simulator sim(options, std::move(scenario));
  keel::sim::Server server(sim);
  auto port = server.Listen(listen);
  if (!port) return Fail(port.error().message);
  if (!port_file.empty() && !WritePortFile(port_file, *port)) {
    return Fail("--port-file " + port_file + ": cannot write the port file");
  }
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.empty()) host = "0.0.0.0";
  std::cerr << "keel-llm-sim listening on http://" << host << ":" << *port << std::endl;

  std::thread waiter([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (!server.Stop()) std::_Exit(0);  // a connection thread is stuck: do not wait for it
  });
  server.Run();
  waiter.join();
  return 0;
}
