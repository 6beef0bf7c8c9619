// The composition root: the only place that names concrete implementations (STYLE.md rule 1).
// config → lock the data directory → open the store → load workflows → start the engine and
// the HTTP API → wait for SIGTERM/SIGINT → drain in reverse order.

#include "server/serve.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "api/http_server.h"
#include "base/clock.h"
#include "base/random.h"
#include "engine/local_engine.h"
#include "engine/workflow_registry.h"
#include "gateway/local_gateway.h"
#include "observability/log.h"
#include "observability/metrics.h"
#include "server/config.h"
#include "store/sqlite/data_dir_lock.h"
#include "store/sqlite/sqlite_store.h"

namespace keel::server {

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "keel serve: %s\n", message.c_str());
  obs::Error("start_failed", {{"error", message}});
  return 1;
}

obs::Level ParseLevel(const std::string& s) {
  if (s == "debug") return obs::Level::kDebug;
  if (s == "warn") return obs::Level::kWarn;
  if (s == "error") return obs::Level::kError;
  return obs::Level::kInfo;
}

Status WritePortFile(const std::string& path, int port) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out) return Error{Errc::kStorage, "cannot write " + tmp};
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Error{Errc::kStorage, "cannot write " + path + ": " + ec.message()};
  return OkStatus();
}

// Gauges read from the store at scrape time: they are state, not events.
std::string StateGauges(store::Store& store, engine::LocalEngine& engine) {
  std::string out =
      "# HELP keel_runs Non-terminal runs by intent and status\n# TYPE keel_runs gauge\n";
  if (auto counts = store.CountRuns(); counts) {
    for (const auto& [intent, status, n] : *counts) {
      out += "keel_runs{intent=\"" + intent + "\",status=\"" + status + "\"} " + std::to_string(n) +
             "\n";
    }
  }
  engine::EngineState s = engine.State();
  out +=
      "# HELP keel_executor_queue_depth Tasks waiting for an executor thread\n"
      "# TYPE keel_executor_queue_depth gauge\nkeel_executor_queue_depth " +
      std::to_string(s.queued_runs) + "\n";
  return out;
}

// An agent's intent runs the standard loop with its name bound. The loop's source is part of
// the agent's code, so its content hash (and a resumed run's code) covers the loop too. The
// wrapper shares the loop's first line, keeping error line numbers right.
std::string AgentWorkflowSource(const std::string& loop_source, const std::string& agent) {
  return "local agent = (function() " + loop_source +
         "\nend)()\nreturn function(ctx, input) return agent.run(ctx, \"" + agent +
         "\", input) end\n";
}

Status RegisterAgents(const Config& c, const std::vector<std::string>& workflows,
                      engine::WorkflowRegistry& registry) {
  if (c.agents.empty()) return OkStatus();
  std::string path = c.lib_dir + "/keel/agent.lua";
  std::ifstream in(path);
  if (!in) {
    return Error{Errc::kInvalidArgument, "agents are configured but the agent loop " + path +
                                             " cannot be read (is lib_dir right?)"};
  }
  std::string loop((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const auto& [name, spec] : c.agents) {
    for (const auto& w : workflows) {
      if (w == name) {
        return Error{Errc::kInvalidArgument, "agent \"" + name +
                                                 "\" has the name of a workflow in " +
                                                 c.workflows_dir + "; rename one of them"};
      }
    }
    if (Status st = registry.Register(name, path, AgentWorkflowSource(loop, name)); !st) {
      return Error{st.error().code, "agent \"" + name + "\": " + st.error().message};
    }
  }
  return OkStatus();
}

}  // namespace

int Serve(const ServeFlags& flags) {
  auto config = LoadConfig(flags);
  if (!config) return Fail(config.error().message);
  const Config& c = *config;
  obs::SetMinLevel(ParseLevel(c.log_level));

  // Signals are taken by sigwait below; block them before any thread exists so every thread
  // inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto lock = store::sqlite::DataDirLock::Acquire(c.data_dir);
  if (!lock) return Fail(lock.error().message);

  obs::Registry& metrics = obs::Registry::Default();
  store::sqlite::SqliteOptions so;
  so.path = c.data_dir + "/keel.db";
  so.synchronous = c.synchronous;
  so.read_connections = c.read_connections;
  so.max_page_count = c.max_page_count;
  so.metrics = &metrics;
  auto store = store::sqlite::SqliteStore::Open(so);
  if (!store) return Fail(store.error().message);

  lua::VmLimits limits;
  limits.max_memory_bytes = static_cast<size_t>(c.lua_max_memory_mb) << 20;
  limits.max_instructions_per_slice = c.lua_max_instructions;
  if (std::filesystem::is_directory(c.lib_dir)) {
    limits.lib_dir = std::filesystem::absolute(c.lib_dir).string();
  }
  engine::WorkflowRegistry registry(**store, limits);
  auto report = registry.LoadDirectory(c.workflows_dir);
  if (report.storage_error) return Fail(so.path + ": " + report.storage_error->message);
  for (const auto& e : report.errors) std::fprintf(stderr, "keel serve: skipped %s\n", e.c_str());
  if (Status st = RegisterAgents(c, report.loaded, registry); !st) return Fail(st.error().message);

  // Declared before the engine so it outlives it; stopped explicitly after the engine's
  // drain so no gateway callback reaches a destroyed engine.
  gateway::LocalGateway gateway(c.gateway, SystemClock::Instance(), Random::System(), metrics);
  if (Status st = gateway.Start(); !st) return Fail(st.error().message);

  engine::EngineOptions eo;
  eo.executor_threads = c.executor_threads;
  eo.lease_ttl_ms = c.lease_ttl_ms;
  eo.resident_sleep_ms = c.resident_sleep_ms;
  eo.exclusive_store = true;  // we hold the data directory lock
  eo.vm = limits;
  eo.gateway = &gateway;
  eo.agents = c.agents;
  eo.approval_notify_tool = c.approvals.notify_tool;
  eo.approval_notify_max_attempts = c.approvals.notify_max_attempts;
  eo.loop_max_repeats = c.loop_max_repeats;
  eo.tool_result_inline_bytes = c.gateway.tool_result_inline_bytes;
  engine::LocalEngine engine(eo, **store, registry, SystemClock::Instance(), Random::System(),
                             metrics);
  if (Status st = engine.Start(); !st) return Fail(so.path + ": " + st.error().message);

  api::HttpOptions ho;
  ho.listen = c.listen;
  ho.threads = c.http_threads;
  api::HttpServer http(ho, engine, metrics);
  http.SetMetricsHook([&] { return StateGauges(**store, engine); });
  auto port = http.Start();
  if (!port) {
    engine.Drain(0);
    gateway.Stop();
    return Fail(port.error().message);
  }
  if (!c.port_file.empty()) {
    if (Status st = WritePortFile(c.port_file, *port); !st) return Fail(st.error().message);
  }
  std::string host = c.listen.substr(0, c.listen.rfind(':'));
  std::string intents;
  for (const auto& i : report.loaded) intents += (intents.empty() ? "" : ", ") + i;
  for (const auto& [name, _] : c.agents) intents += (intents.empty() ? "" : ", ") + name;
  obs::Info("listening", {{"address", host + ":" + std::to_string(*port)},
                          {"port", *port},
                          {"data_dir", c.data_dir},
                          {"workflows", intents},
                          {"node", engine.node_id()}});
  std::printf("keel listening on http://%s:%d  (data: %s, workflows: %s)\n", host.c_str(), *port,
              c.data_dir.c_str(), intents.empty() ? "none" : intents.c_str());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  obs::Info("draining", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"},
                         {"timeout_ms", c.drain_timeout_ms}});
  http.SetDraining(true);
  engine.SetDraining();
  int64_t left = engine.Drain(c.drain_timeout_ms);
  http.Stop();
  gateway.Stop();
  (*store)->Drain();
  obs::Info("stopped", {{"runs_left_to_resume", left}});
  return 0;
}

}  // namespace keel::server
