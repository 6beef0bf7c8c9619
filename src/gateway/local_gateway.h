#pragma once

#include <memory>
#include <mutex>

#include "base/clock.h"
#include "base/random.h"
#include "base/timer_queue.h"
#include "gateway/config.h"
#include "gateway/gateway.h"
#include "gateway/http/async_http.h"
#include "gateway/model_caller.h"
#include "gateway/policy/breaker.h"
#include "gateway/tools/tool_runner.h"

namespace keel::gateway {

// The gateway of one node: one HTTP client, one timer thread and one set of breakers shared
// by the model and tool halves. Owns a copy of its configuration.
class LocalGateway final : public Gateway {
 public:
  LocalGateway(GatewayConfig config, const Clock& clock, Random& random, obs::Registry& metrics);
  ~LocalGateway() override;

  // Starts the timer thread and the tool runner (MCP connections). Calls made before Start
  // wait for it. A stopped gateway cannot start again.
  Status Start();
  // Stops the timer thread and the tool runner; calls still waiting end (as cancelled) when
  // the gateway is destroyed. Idempotent.
  void Stop();

  void CallModel(ModelCallRequest req, std::function<void(ModelCallResult)> done) override;
  void CallTool(ToolCallRequest req, std::function<void(ToolCallResult)> done) override;
  Result<ToolTraits> TraitsOf(const std::string& tool) const override;
  Result<boost::json::object> DescribeTool(const std::string& name) const override;
  Result<std::vector<std::string>> ResolveTarget(const std::string& target) const override;
  Price PriceOf(const std::string& model) const override;
  boost::json::array BreakerStates() const override;

  const GatewayConfig& config() const { return config_; }

 private:
  GatewayConfig config_;
  TimerQueue timers_;
  BreakerSet breakers_;
  ModelCaller models_;
  ToolRunner tools_;
  // Declared last so it is destroyed first: its destructor aborts the transfers in flight,
  // whose callbacks still find the model and tool halves alive and end those calls.
  AsyncHttpClient http_;
  std::mutex mu_;
  enum class Phase { kNew, kStarted, kStopped } phase_ = Phase::kNew;
};

}  // namespace keel::gateway
