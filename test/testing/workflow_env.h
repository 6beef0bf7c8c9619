#pragma once

// Shared by the workflow-shape integration tests (approvals, sagas, composition, outbox): a
// real keel-llm-sim whose /effects endpoints act as the receiving services of effect tools,
// and the keel config that points at it.

#include <boost/json.hpp>
#include <map>
#include <string>
#include <vector>

#include "test/testing/sim_process.h"
#include "test/testing/test_util.h"

namespace keel::testing {

// The [providers], [models], [tools] and [approvals] config of these tests. Effect tools
// (effect = true) post to <sim>/effects/honour/<name> (a service that honours
// Idempotency-Key), except pay_naive, which posts to <sim>/effects/naive/pay_naive (one that
// does not). `extra` is appended.
std::string WorkflowConfig(const SimProcess& sim, const std::string& extra = "");

// What the sim's effect endpoints saw (GET /admin/effects).
struct EffectLog {
  std::vector<boost::json::object> effects;  // applied effects, in order
  std::map<std::string, int64_t> applied_by_key;
  std::map<std::string, int64_t> requests_by_key;

  // Names of the applied effects of tools, in order (approval notifications left out).
  std::vector<std::string> Names() const;
  int64_t Applied(const std::string& name) const;
};
EffectLog Effects(SimProcess& sim);

// A suite sharing one keel-llm-sim and one `keel serve` (the integration workflows, config
// WorkflowConfig(sim, extra)). Each suite calls these from SetUpTestSuite/TearDownTestSuite.
class WorkflowServerTest : public SharedServerTest {
 protected:
  static void StartWorkflowServer(const std::string& extra_config = "");
  static void StopWorkflowServer();

  static std::string dir_;
  static SimProcess* sim_;
};

}  // namespace keel::testing
