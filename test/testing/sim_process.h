#pragma once

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "base/result.h"
#include "test/testing/child_process.h"

namespace keel::testing {

// A real `keel-llm-sim` child process on 127.0.0.1 port 0, for tests that need an LLM
// provider over real HTTP. The binary is ${KEEL_BIN_DIR}/bin/keel-llm-sim (set by keel_test).
// Its stderr goes to <log_dir>/sim-<object>-<n>.log, one file per start. The admin helpers
// open a fresh connection per call, so they may be used from any thread; Start and Kill may not
// race each other.
class SimProcess {
 public:
  struct Options {
    std::string scenario_file;            // --scenario; empty: none (the default echo behaviour)
    std::vector<std::string> extra_args;  // e.g. {"--require-key", "k"}
    std::string log_dir;                  // empty: a fresh temporary directory, removed at the end
  };
  explicit SimProcess(Options options = {});
  ~SimProcess();  // SIGKILLs a running sim
  SimProcess(const SimProcess&) = delete;
  SimProcess& operator=(const SimProcess&) = delete;

  // Starts the sim and waits (up to 30 s) until it listens. Fails with the sim's stderr when
  // it exits instead (a bad scenario, a bad flag).
  Status Start();
  // SIGKILL, then reap.
  void Kill();

  bool running() const { return child_.running(); }
  int port() const { return port_; }
  std::string base_url() const;         // http://127.0.0.1:PORT
  std::string openai_base_url() const;  // base_url() + "/v1"
  // Concatenated stderr of every start so far.
  std::string Logs() const;

  Result<boost::json::value> Stats();                     // GET /admin/stats
  Result<boost::json::array> Requests();                  // GET /admin/requests
  Status SetFaults(const std::string& faults_json);       // POST /admin/faults
  Status LoadScenario(const std::string& scenario_json);  // POST /admin/scenario
  Status Reset();                                         // POST /admin/reset
  Result<boost::json::value> Effects();                   // GET /admin/effects

  static std::string Binary();

 private:
  Result<std::string> Admin(const std::string& method, const std::string& target,
                            const std::string& body);
  std::string log_of_start(int n) const;

  Options options_;
  std::string log_dir_;
  bool own_dir_ = false;
  ChildProcess child_{"keel-llm-sim (" + Binary() + ")"};
  int port_ = 0;
  int starts_ = 0;
  int instance_ = 0;
};

}  // namespace keel::testing
