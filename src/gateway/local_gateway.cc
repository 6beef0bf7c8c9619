#include "gateway/local_gateway.h"

namespace keel::gateway {

// models_ and tools_ keep references to http_, which is constructed after them; they only
// store the reference until a call arrives, which is after construction.
LocalGateway::LocalGateway(GatewayConfig config, const Clock& clock, Random& random,
                           obs::Registry& metrics)
    : config_(std::move(config)),
      timers_(clock),
      breakers_(clock, metrics),
      models_(config_, http_, breakers_, timers_, clock, random, metrics),
      tools_(config_, http_, breakers_, timers_, clock, random, metrics) {}

LocalGateway::~LocalGateway() { Stop(); }

Status LocalGateway::Start() {
  {
    std::lock_guard lock(mu_);
    if (phase_ == Phase::kStarted) return OkStatus();
    if (phase_ == Phase::kStopped) {
      return Error{Errc::kInvalidArgument, "the gateway was stopped and cannot start again"};
    }
    phase_ = Phase::kStarted;
  }
  timers_.Start();
  return tools_.Start();
}

void LocalGateway::Stop() {
  {
    std::lock_guard lock(mu_);
    if (phase_ != Phase::kStarted) {
      phase_ = Phase::kStopped;
      return;
    }
    phase_ = Phase::kStopped;
  }
  tools_.Stop();
  timers_.Stop();
}

void LocalGateway::CallModel(ModelCallRequest req, std::function<void(ModelCallResult)> done) {
  models_.Call(std::move(req), std::move(done));
}

void LocalGateway::CallTool(ToolCallRequest req, std::function<void(ToolCallResult)> done) {
  tools_.Call(std::move(req), std::move(done));
}

Result<Gateway::ToolTraits> LocalGateway::TraitsOf(const std::string& tool) const {
  auto it = config_.tools.find(tool);
  if (it == config_.tools.end()) return Error{Errc::kNotFound, "unknown tool \"" + tool + "\""};
  ToolTraits t;
  t.effect = it->second.effect;
  t.compensate_with = it->second.compensate_with;
  t.outbox_max_attempts = it->second.outbox_max_attempts;
  return t;
}

Result<boost::json::object> LocalGateway::DescribeTool(const std::string& name) const {
  return tools_.Describe(name);
}

Result<std::vector<std::string>> LocalGateway::ResolveTarget(const std::string& target) const {
  return models_.ResolveTarget(target);
}

Price LocalGateway::PriceOf(const std::string& model) const { return models_.PriceOf(model); }

boost::json::array LocalGateway::BreakerStates() const { return breakers_.ToJson(); }

}  // namespace keel::gateway
