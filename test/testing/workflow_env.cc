#include "test/testing/workflow_env.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace keel::testing {

namespace json = boost::json;

std::string WorkflowConfig(const SimProcess& sim, const std::string& extra) {
  std::string honour = sim.base_url() + "/effects/honour/";
  std::string naive = sim.base_url() + "/effects/naive/";
  auto effect = [&](const std::string& name, const std::string& more = "") {
    return "[tools." + name + "]\nkind = \"http\"\nurl = \"" + honour + name +
           "\"\neffect = true\nretry = { max_attempts = 1 }\n" + more + "\n";
  };
  std::string c = R"([gateway]
default_model = "default"

[providers.sim]
kind = "openai"
base_url = ")" + sim.openai_base_url() +
                  R"("
retry = { max_attempts = 2, base_backoff = "10ms", max_backoff = "50ms" }

[models.sim-large]
provider = "sim"

[models.voter-a]
provider = "sim"

[models.voter-b]
provider = "sim"

[models.voter-c]
provider = "sim"

[chains.default]
models = ["sim-large"]

[tools.sleep]
kind = "http"
url = ")" + sim.base_url() +
                  R"(/tools/sleep"

[tools.pay_naive]
kind = "http"
url = ")" + naive +
                  R"(pay_naive"
effect = true
retry = { max_attempts = 1 }

[approvals]
webhook_url = ")" +
                  honour +
                  R"(approval_webhook"

)";
  c += effect("book_flight", "compensate_with = \"cancel_flight\"");
  c += effect("cancel_flight");
  c += effect("book_hotel");
  c += effect("cancel_hotel");
  c += effect("apply_item");
  c += effect("pay");
  c += extra;
  return c;
}

std::vector<std::string> EffectLog::Names() const {
  std::vector<std::string> out;
  for (const auto& e : effects) {
    auto* n = e.if_contains("name");
    if (n && n->is_string() && n->get_string() != "approval_webhook") {
      out.emplace_back(n->get_string());
    }
  }
  return out;
}

int64_t EffectLog::Applied(const std::string& name) const {
  int64_t n = 0;
  for (const auto& e : effects) {
    auto* v = e.if_contains("name");
    if (v && v->is_string() && v->get_string() == name) n++;
  }
  return n;
}

EffectLog Effects(SimProcess& sim) {
  EffectLog log;
  auto v = sim.Effects();
  EXPECT_TRUE(v.ok()) << (v.ok() ? "" : v.error().message);
  if (!v.ok() || !v->is_object()) return log;
  const json::object& o = v->as_object();
  if (auto* e = o.if_contains("effects"); e && e->is_array()) {
    for (const auto& x : e->as_array())
      if (x.is_object()) log.effects.push_back(x.as_object());
  }
  auto counts = [&](const char* key, std::map<std::string, int64_t>& out) {
    if (auto* m = o.if_contains(key); m && m->is_object()) {
      for (const auto& [k, n] : m->as_object())
        if (n.is_int64()) out[std::string(k)] = n.get_int64();
    }
  };
  counts("applied_by_key", log.applied_by_key);
  counts("requests_by_key", log.requests_by_key);
  return log;
}

std::string WorkflowServerTest::dir_;
SimProcess* WorkflowServerTest::sim_ = nullptr;

void WorkflowServerTest::StartWorkflowServer(const std::string& extra_config) {
  dir_ = ServerProcess::MakeTempDir("keel-workflow-test-");
  sim_ = new SimProcess({.log_dir = dir_});
  Status started = sim_->Start();
  ASSERT_TRUE(started.ok()) << started.error().message;
  std::string config = dir_ + "/keel.toml";
  std::ofstream(config) << WorkflowConfig(*sim_, extra_config);
  StartServer({.workflows_dir = TestWorkflows(), .extra_args = {"--config", config}});
}

void WorkflowServerTest::StopWorkflowServer() {
  StopServer();
  delete sim_;
  sim_ = nullptr;
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace keel::testing
