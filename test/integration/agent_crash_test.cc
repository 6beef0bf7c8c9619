// Agents under SIGKILL: many agent runs (model -> tool -> model) in flight while the server is
// killed several times and restarted. Afterwards every run must have finished with the right
// answer, and the simulator's own request log must prove that no model call and no tool call
// whose result had been journaled was ever sent again: a call may be repeated only when a kill
// caught it in flight, before its result was committed.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test/testing/server_process.h"
#include "test/testing/sim_process.h"
#include "test/testing/test_util.h"

namespace keel::testing {
namespace {

namespace json = boost::json;

constexpr int kKills = 4;
constexpr int kRunsPerWave = 10;  // submitted after each (re)start
constexpr int kRuns = kRunsPerWave * (kKills + 1);

constexpr const char* kScenario = R"({
  "rules": [
    {"when": {"last_user_contains": "weather", "last_role": "user"},
     "reply": {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]}},
    {"when": {"last_role": "tool", "tool_name": "get_weather"},
     "reply": {"content": "Weather report: {{tool_result}}"}}
  ],
  "default": "echo"
})";

std::string Config(const SimProcess& sim) {
  return R"([gateway]
default_model = "sim-large"

[providers.sim]
kind = "openai"
base_url = ")" +
         sim.openai_base_url() +
         R"("
timeout = "10s"

[models.sim-large]
provider = "sim"

[tools.get_weather]
kind = "http"
url = ")" +
         sim.base_url() +
         R"(/tools/get_weather"
parameters = { type = "object", properties = { city = { type = "string" } }, required = ["city"] }

[agents.helper]
system_prompt = "You are a test agent."
tools = ["get_weather"]
)";
}

TEST(AgentCrashTest, JournaledModelAndToolCallsAreNeverSentAgain) {
  std::string dir = ServerProcess::MakeTempDir("keel-agent-crash-");
  SimProcess sim({.log_dir = dir});
  Status started = sim.Start();
  ASSERT_TRUE(started.ok()) << started.error().message;
  ASSERT_TRUE(sim.LoadScenario(kScenario).ok());
  // Latency keeps calls in flight long enough for kills to land in the middle of them.
  ASSERT_TRUE(sim.SetFaults(R"({"*": {"latency": "100ms"}})").ok());
  std::string config = dir + "/keel.toml";
  std::ofstream(config) << Config(sim);

  ServerProcess server({.data_dir = dir + "/data",
                        .workflows_dir = TestWorkflows(),
                        .extra_args = {"--config", config}});
  ASSERT_TRUE(server.Start().ok()) << server.Logs();

  // A wave of runs after each start; each run takes at least 3 x 100 ms, so every kill
  // lands while calls are in flight.
  std::vector<std::string> ids;
  std::mt19937 rng(12345);
  for (int wave = 0; wave <= kKills; ++wave) {
    auto c = server.Client();
    for (int i = 0; i < kRunsPerWave; ++i) {
      int n = wave * kRunsPerWave + i;
      json::object env{{"intent", "helper"},
                       {"idempotency_key", "crash-" + std::to_string(n)},
                       {"payload", {{"message", "weather for run " + std::to_string(n)}}}};
      ids.push_back(Str(Submit(c, env), "/id"));
      ASSERT_FALSE(ids.back().empty());
    }
    if (wave == kKills) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 200));
    server.Kill();
    ASSERT_TRUE(server.Start().ok()) << server.Logs();
  }

  auto c = server.Client();
  std::map<std::string, json::array> journals;
  for (const auto& id : ids) {
    json::value done = WaitTerminal(c, id, 60'000);
    ASSERT_EQ(Str(done, "/status"), "succeeded") << json::serialize(done);
    EXPECT_EQ(Str(done, "/result/answer").rfind("Weather report: ", 0), 0u)
        << json::serialize(done);
    journals[id] = Journal(c, id);
  }

  // The simulator's log, in arrival order: which request fingerprint got which response.
  auto requests = sim.Requests();
  ASSERT_TRUE(requests.ok());
  std::map<std::string, size_t> index_of_response;  // response_id -> position
  std::map<std::string, std::vector<size_t>> by_fingerprint;
  for (size_t i = 0; i < requests->size(); ++i) {
    const json::value& r = (*requests)[i];
    if (!Str(r, "/response_id").empty()) index_of_response[Str(r, "/response_id")] = i;
    if (Str(r, "/api") == "openai") by_fingerprint[Str(r, "/fingerprint")].push_back(i);
  }
  auto stats = sim.Stats();
  ASSERT_TRUE(stats.ok());

  int llm_entries = 0, tool_entries = 0, resent_in_flight = 0;
  for (const auto& [id, journal] : journals) {
    for (const auto& e : journal) {
      std::string kind = Str(e, "/kind");
      if (kind == "llm") {
        llm_entries++;
        std::string response_id = Str(e, "/result/response/response_id");
        ASSERT_TRUE(index_of_response.count(response_id)) << json::serialize(e);
        size_t at = index_of_response[response_id];
        const auto& same = by_fingerprint[Str((*requests)[at], "/fingerprint")];
        // Every send of this request came before (or was) the one whose answer was journaled.
        EXPECT_EQ(same.back(), at) << "run " << id << ": model request re-sent after its response "
                                   << response_id << " was journaled";
        resent_in_flight += static_cast<int>(same.size()) - 1;
      } else if (kind == "tool") {
        tool_entries++;
        std::string key = id + ":" + std::to_string(At(e, "/seq").to_number<int64_t>());
        json::value calls = At(*stats, "/tools/get_weather/keys/" + key + "/call_ids");
        ASSERT_TRUE(calls.is_array() && !calls.as_array().empty())
            << "no tool call with Idempotency-Key " << key;
        EXPECT_EQ(calls.as_array().back(), At(e, "/result/result/call_id"))
            << "run " << id << ": tool call " << key << " re-sent after its result was journaled";
        resent_in_flight += static_cast<int>(calls.as_array().size()) - 1;
      }
    }
  }
  EXPECT_EQ(llm_entries, 2 * kRuns);
  EXPECT_EQ(tool_entries, kRuns);
  // The kills did catch runs mid-flight: each restart recovered some.
  int64_t recovered = 0;
  for (int n = 2; n <= server.starts(); ++n) {
    std::ifstream log(server.log_of_start(n));
    std::string line;
    while (std::getline(log, line)) {
      if (line.find("\"engine_started\"") == std::string::npos) continue;
      json::value v = Parse(line);
      recovered += At(v, "/recovered_runs").is_int64() ? At(v, "/recovered_runs").get_int64() : 0;
    }
  }
  EXPECT_GT(recovered, 0);
  std::printf(
      "agent crash test: %d kills, %d llm and %d tool entries, %d calls repeated "
      "because a kill caught them in flight\n",
      kKills, llm_entries, tool_entries, resent_in_flight);
  std::printf("agent crash test: %lld runs recovered after kills\n",
              static_cast<long long>(recovered));
  server.Kill();
  if (!std::getenv("KEEL_KEEP_TEST_DIRS")) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace keel::testing
