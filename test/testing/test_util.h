#pragma once

// Helpers shared by the integration tests: JSON access, HTTP calls that record a test failure
// when the transport fails, polling a run until it reaches a state, and a fixture for suites
// sharing one server. They report problems with gtest EXPECTs, so they only make sense inside
// a test.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "client/http_client.h"
#include "test/testing/server_process.h"

namespace keel::testing {

// How long a test waits for a run to reach a state before failing.
inline constexpr int kRunTimeoutMs = 20'000;

// The workflows the integration tests run: ${KEEL_SOURCE_DIR}/test/integration/workflows.
std::string TestWorkflows();

// Parses `text` as JSON; a test failure and null when it is not JSON.
boost::json::value Parse(const std::string& text);

// The value at a JSON pointer ("/error/code"), or null when absent.
boost::json::value At(const boost::json::value& v, std::string_view pointer);

// The string at a JSON pointer, or "" when absent or not a string.
std::string Str(const boost::json::value& v, std::string_view pointer);

// Whether a run status (as the API spells it) is final.
bool IsTerminal(const std::string& status);

// GET `target`; a test failure and an empty Response (status 0) when the request fails.
client::Response MustGet(client::HttpClient& c, const std::string& target,
                         const std::map<std::string, std::string>& headers = {});

// POST `body` to `target`; a test failure and an empty Response when the request fails.
client::Response MustPost(client::HttpClient& c, const std::string& target,
                          const std::string& body);

// GET /v1/runs/{id}, expecting 200; the run object.
boost::json::value GetRun(client::HttpClient& c, const std::string& id);

// Polls the run until `pred` holds, failing the test after `timeout_ms`; returns the last run
// object seen.
boost::json::value WaitForRun(client::HttpClient& c, const std::string& id,
                              const std::function<bool(const boost::json::value&)>& pred,
                              int timeout_ms = kRunTimeoutMs);

// Polls the run until its status is terminal (see IsTerminal); returns the last run object.
boost::json::value WaitTerminal(client::HttpClient& c, const std::string& id,
                                int timeout_ms = kRunTimeoutMs);

// Polls the run until its status is `status`; returns the last run object seen.
boost::json::value WaitStatus(client::HttpClient& c, const std::string& id,
                              const std::string& status, int timeout_ms = kRunTimeoutMs);

// POSTs an envelope to /v1/runs`query`; expects 200 or 202 and returns the run object.
boost::json::value Submit(client::HttpClient& c, const boost::json::object& envelope,
                          const std::string& query = "");

// GET /v1/runs/{id}/journal, expecting 200 and the run's id; the entries.
boost::json::array Journal(client::HttpClient& c, const std::string& id);

// Fixture for a suite whose tests share one `keel serve`, started once for the suite (by
// default on TestWorkflows(); a suite needing other options defines its own SetUpTestSuite
// calling StartServer). Each test checks the server is up and, when it fails, prints where
// the server's log is; c_ is a client of the server.
class SharedServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { StartServer({.workflows_dir = TestWorkflows()}); }
  static void TearDownTestSuite() { StopServer(); }
  static void StartServer(ServerProcess::Options options);
  static void StopServer();
  void SetUp() override;
  void TearDown() override;

  static ServerProcess* server_;
  client::HttpClient c_ = server_ ? server_->Client() : client::HttpClient("127.0.0.1", 1);
};

}  // namespace keel::testing
