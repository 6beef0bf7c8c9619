#include "gateway/model_caller.h"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <utility>

#include "gateway/policy/retry.h"
#include "observability/log.h"

namespace keel::gateway {

namespace json = boost::json;

namespace {

constexpr const char* kCallsMetric = "keel_gateway_model_calls_total";
constexpr const char* kCallsHelp = "Model call attempts by outcome";
constexpr const char* kRetriesMetric = "keel_gateway_retries_total";
constexpr const char* kRetriesHelp = "Model calls retried on the same model";
constexpr const char* kFallbacksMetric = "keel_gateway_fallbacks_total";
constexpr const char* kFallbacksHelp = "Model calls moved to the next model of their chain";
constexpr const char* kSecondsMetric = "keel_gateway_call_seconds";
constexpr const char* kSecondsHelp = "Latency of one provider exchange";

// A call whose chain gave up on retryable errors, with no breaker open to say when to come
// back, is told to wait at least this long.
constexpr int64_t kMinRetryAfterExhaustedMs = 1000;

// Breakers are per endpoint: the same model behind two providers fails independently.
std::string BreakerKey(const ModelConfig& model, const std::string& model_name) {
  return model.provider + "/" + model_name;
}

// "retry-after-ms: 1500": a plain count of milliseconds; 0 when absent or not a number.
int64_t ParseRetryAfterMsHeader(std::string_view v) {
  int64_t ms = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), ms);
  if (ec != std::errc() || ms < 0) return 0;
  // A fraction ("1500.0") is tolerated; anything else after the number is not.
  if (end != v.data() + v.size() && *end != '.') return 0;
  return ms;
}

std::string Label(const std::string& name, const std::string& value) {
  return name + "=\"" + value + "\"";
}

std::string Join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

std::string TransportErrorText(const HttpResult& r, int64_t timeout_ms, int64_t idle_ms) {
  std::string detail = r.error_message.empty() ? "" : " (" + r.error_message + ")";
  switch (r.error) {
    case TransportError::kConnect:
      return "connect failed" + detail;
    case TransportError::kTimeout:
      return "timed out after " + std::to_string(timeout_ms) + " ms" + detail;
    case TransportError::kStalled:
      return "stream stalled: no data for " + std::to_string(idle_ms) + " ms" + detail;
    case TransportError::kReset:
      return "connection reset" + detail;
    case TransportError::kCancelled:
      return "cancelled";
    case TransportError::kOther:
    case TransportError::kNone:
      break;
  }
  return "transport error" + detail;
}

}  // namespace

// One call's progress through its chain. The call runs one step at a time (an attempt on the
// HTTP thread, a wake-up on the timer thread), so only the fields read by a cancellation or
// the destructor while the call waits are guarded by `mu`.
struct ModelCaller::CallState {
  uint64_t id = 0;
  ModelCallRequest req;
  std::function<void(ModelCallResult)> done;
  std::string target;  // as resolved: a chain or model name
  bool is_chain = false;
  std::vector<std::string> models;
  size_t index = 0;  // into models
  int attempt = 0;   // attempts made on models[index]

  ModelCallResult result;
  std::vector<std::string> summaries;  // "sim-small: HTTP 503 after 3 attempts", per model left
  std::string permanent_code;          // the last invalid_request / spend_limit seen
  std::string permanent_summary;
  int failures = 0;
  int malformed_failures = 0;
  int64_t last_ceiling_ms = 0;

  // The attempt in flight.
  CircuitBreaker* breaker = nullptr;
  int64_t timeout_ms = 0;
  bool deadline_bounded = false;  // timeout_ms was cut short by the call's deadline
  int64_t idle_timeout_ms = 0;
  std::unique_ptr<StreamAccumulator> stream;
  std::string stream_error;

  std::mutex mu;
  bool finished = false;
  bool waiting = false;  // a wake-up is scheduled on the timer queue
  uint64_t wake = 0;     // the wake-up that may proceed
};

ModelCaller::ModelCaller(const GatewayConfig& config, AsyncHttpClient& http, BreakerSet& breakers,
                         TimerQueue& timers, const Clock& clock, Random& random,
                         obs::Registry& metrics)
    : config_(config),
      http_(http),
      breakers_(breakers),
      timers_(timers),
      clock_(clock),
      random_(random),
      metrics_(metrics) {
  for (const auto& [name, provider] : config_.providers) {
    if (auto adapter = MakeAdapter(provider.kind)) adapters_[name] = std::move(adapter);
  }
}

ModelCaller::~ModelCaller() {
  std::vector<std::shared_ptr<CallState>> calls;
  {
    std::lock_guard lock(live_mu_);
    for (auto& [id, weak] : live_) {
      if (auto call = weak.lock()) calls.push_back(std::move(call));
    }
  }
  for (auto& call : calls) FinishError(call, "cancelled", "the gateway stopped");
}

Result<std::vector<std::string>> ModelCaller::ResolveTarget(const std::string& target) const {
  const std::string& name = target.empty() ? config_.default_model : target;
  if (name.empty()) {
    return Error{Errc::kInvalidArgument, "no model given and no default_model configured"};
  }
  std::vector<std::string> models;
  if (auto chain = config_.chains.find(name); chain != config_.chains.end()) {
    if (chain->second.models.empty()) {
      return Error{Errc::kInvalidArgument, "chain \"" + name + "\" has no models"};
    }
    models = chain->second.models;
  } else if (config_.models.count(name)) {
    models = {name};
  } else {
    std::vector<std::string> known_models, known_chains;
    for (const auto& [m, _] : config_.models) known_models.push_back(m);
    for (const auto& [c, _] : config_.chains) known_chains.push_back(c);
    return Error{Errc::kNotFound,
                 "unknown model or chain \"" + name +
                     "\" (models: " + (known_models.empty() ? "none" : Join(known_models, ", ")) +
                     "; chains: " + (known_chains.empty() ? "none" : Join(known_chains, ", ")) +
                     ")"};
  }
  for (const auto& m : models) {
    auto model = config_.models.find(m);
    if (model == config_.models.end()) {
      return Error{Errc::kNotFound,
                   "chain \"" + name + "\" names model \"" + m + "\", which is not configured"};
    }
    auto provider = config_.providers.find(model->second.provider);
    if (provider == config_.providers.end()) {
      return Error{Errc::kNotFound, "model \"" + m + "\" names provider \"" +
                                        model->second.provider + "\", which is not configured"};
    }
    if (!adapters_.count(provider->first)) {
      return Error{Errc::kInvalidArgument, "provider \"" + provider->first + "\" has kind \"" +
                                               provider->second.kind +
                                               "\"; expected \"openai\" or \"anthropic\""};
    }
  }
  return models;
}

Price ModelCaller::PriceOf(const std::string& model) const {
  auto it = config_.models.find(model);
  if (it == config_.models.end()) return {};
  return Price{it->second.input_usd_per_mtok, it->second.output_usd_per_mtok};
}

void ModelCaller::Call(ModelCallRequest req, std::function<void(ModelCallResult)> done) {
  auto call = std::make_shared<CallState>();
  call->req = std::move(req);
  call->done = std::move(done);
  call->target = call->req.target.empty() ? config_.default_model : call->req.target;
  call->is_chain = config_.chains.count(call->target) > 0;
  {
    std::lock_guard lock(live_mu_);
    call->id = next_call_id_++;
    live_[call->id] = call;
  }
  auto models = ResolveTarget(call->req.target);
  if (!models.ok()) {
    call->result.error_code = "unknown_model";
    call->result.message = models.error().message;
    // Through the timer thread, so `done` never runs on the caller's thread.
    Schedule(call, clock_.WallMs());
    return;
  }
  call->models = std::move(*models);
  if (call->req.prefer_last) call->index = call->models.size() - 1;
  if (call->req.cancel) {
    std::weak_ptr<CallState> weak = call;
    call->req.cancel->OnCancel([this, weak] {
      if (auto c = weak.lock()) OnCancel(c);
    });
  }
  Schedule(call, clock_.WallMs());
}

void ModelCaller::Schedule(const std::shared_ptr<CallState>& call, int64_t at_ms) {
  uint64_t wake;
  {
    std::lock_guard lock(call->mu);
    if (call->finished) return;
    call->waiting = true;
    wake = ++call->wake;
  }
  // A cancellation that came while this attempt was being decided found nothing waiting.
  if (call->req.cancel && call->req.cancel->cancelled()) at_ms = clock_.WallMs();
  timers_.At(at_ms, [this, call, wake] { StartAttempt(call, wake); });
}

void ModelCaller::OnCancel(const std::shared_ptr<CallState>& call) {
  uint64_t wake;
  {
    std::lock_guard lock(call->mu);
    // An attempt in flight ends through the HTTP client, which watches the same token.
    if (call->finished || !call->waiting) return;
    wake = ++call->wake;
  }
  timers_.At(clock_.WallMs(), [this, call, wake] { StartAttempt(call, wake); });
}

void ModelCaller::StartAttempt(std::shared_ptr<CallState> call, uint64_t wake) {
  {
    std::lock_guard lock(call->mu);
    if (call->finished || !call->waiting || wake != call->wake) return;
    call->waiting = false;
  }
  if (!call->result.error_code.empty()) return Finish(call);  // failed before any attempt
  const ModelCallRequest& req = call->req;
  // Models whose breakers are open are skipped here, in a loop, without a wake-up each.
  while (true) {
    if (req.cancel && req.cancel->cancelled()) {
      return FinishError(call, "cancelled", "the call was cancelled");
    }
    int64_t now = clock_.WallMs();
    if (req.deadline_at_ms > 0 && now >= req.deadline_at_ms) {
      std::string message = "the deadline passed";
      if (!call->result.attempts.empty()) {
        message += " after " + std::to_string(call->result.attempts.size()) + " attempts";
        if (!call->result.attempts.back().error.empty()) {
          message += " (last: " + call->result.attempts.back().target + ": " +
                     call->result.attempts.back().error + ")";
        }
      }
      return FinishError(call, "deadline_exceeded", message);
    }
    if (call->index >= call->models.size()) return FinishExhausted(call);

    const std::string& model_name = call->models[call->index];
    const ModelConfig& model = config_.models.at(model_name);
    const ProviderConfig& provider = config_.providers.at(model.provider);
    CircuitBreaker& breaker = breakers_.Get(BreakerKey(model, model_name), provider.breaker);
    if (!breaker.Allow()) {
      Attempt a;
      a.target = model_name;
      a.attempt = call->attempt + 1;
      a.outcome = "breaker_open";
      a.error = "breaker open until " + FormatUtcMs(breaker.RetryAtMs());
      ++call->failures;
      call->summaries.push_back(model_name + ": " + a.error);
      std::string error = a.error;
      Report(*call, std::move(a));
      NoteFallback(*call, error);
      ++call->index;
      call->attempt = 0;
      continue;
    }

    ++call->attempt;
    call->breaker = &breaker;
    json::object wire = req.request;
    if (!wire.contains("max_tokens") && model.max_output_tokens > 0) {
      wire["max_tokens"] = model.max_output_tokens;
    }
    const ProviderAdapter& adapter = *adapters_.at(model.provider);
    HttpRequest http = adapter.BuildRequest(
        provider, model.model_id.empty() ? model_name : model.model_id, wire, req.stream);
    int64_t timeout = provider.timeout_ms;
    call->deadline_bounded = false;
    if (req.deadline_at_ms > 0) {
      int64_t left = req.deadline_at_ms - now;
      if (timeout <= 0 || left < timeout) {
        timeout = left;
        call->deadline_bounded = true;
      }
    }
    http.timeout_ms = timeout;
    if (timeout > 0) http.connect_timeout_ms = std::min(http.connect_timeout_ms, timeout);
    http.idle_timeout_ms = provider.idle_timeout_ms;
    call->timeout_ms = timeout;
    call->idle_timeout_ms = provider.idle_timeout_ms;
    call->stream_error.clear();
    call->stream = req.stream ? adapter.NewStream() : nullptr;

    AsyncHttpClient::DataFn on_data;
    if (req.stream) {
      // The done callback below keeps `call` alive for as long as data can arrive.
      CallState* raw = call.get();
      on_data = [raw](std::string_view chunk) {
        if (!raw->stream_error.empty()) return;
        auto forward = [raw](std::string_view text) {
          if (raw->req.on_text) raw->req.on_text(text);
        };
        Status fed = raw->stream->Feed(chunk, forward);
        if (!fed.ok()) raw->stream_error = fed.error().message;
      };
    }
    http_.Send(std::move(http), req.cancel, std::move(on_data),
               [this, call](HttpResult r) { OnAttemptDone(call, std::move(r)); });
    return;
  }
}

void ModelCaller::OnAttemptDone(std::shared_ptr<CallState> call, HttpResult r) {
  const std::string& model_name = call->models[call->index];
  metrics_
      .GetHistogram(kSecondsMetric, kSecondsHelp, obs::LatencyBuckets(), Label("model", model_name))
      .Observe(static_cast<double>(r.latency_ms) / 1000.0);
  CircuitBreaker& breaker = *call->breaker;
  const ModelCallRequest& req = call->req;

  if (r.error == TransportError::kCancelled || (req.cancel && req.cancel->cancelled())) {
    breaker.Release();
    Attempt a{model_name, call->attempt, 0, "failed", "cancelled", r.latency_ms, 0};
    Report(*call, a);
    return FinishError(call, "cancelled",
                       "the call was cancelled during attempt " + std::to_string(call->attempt) +
                           " of " + model_name);
  }
  if (r.error == TransportError::kTimeout && call->deadline_bounded) {
    // The call's own deadline cut the exchange short: that says nothing about the provider.
    breaker.Release();
    Attempt a{model_name, call->attempt, 0, "failed", "the deadline passed", r.latency_ms, 0};
    Report(*call, a);
    return FinishError(call, "deadline_exceeded",
                       "the deadline passed during attempt " + std::to_string(call->attempt) +
                           " of " + model_name + " (" + std::to_string(call->timeout_ms) +
                           " ms were left)");
  }
  if (r.error != TransportError::kNone) {
    return OnFailure(call, Failure::kRetryable,
                     TransportErrorText(r, call->timeout_ms, call->idle_timeout_ms), 0,
                     r.latency_ms, 0);
  }

  const int status = r.response.status;
  const ModelConfig& model = config_.models.at(model_name);
  const ProviderAdapter& adapter = *adapters_.at(model.provider);
  if (status < 200 || status >= 300) {
    std::string provider_message;
    FailureClass cls = adapter.ClassifyError(status, r.response.body, &provider_message);
    std::string error = "HTTP " + std::to_string(status);
    if (!provider_message.empty()) error += ": " + provider_message;
    switch (cls) {
      case FailureClass::kCancelled:
        breaker.Release();
        return FinishError(call, "cancelled", "the call was cancelled");
      case FailureClass::kPermanent:
        return OnFailure(call, Failure::kPermanent, error, status, r.latency_ms, 0);
      case FailureClass::kSpendLimit:
        return OnFailure(call, Failure::kSpendLimit, error, status, r.latency_ms, 0);
      case FailureClass::kRetryable: {
        // retry-after-ms is the precise form some providers (OpenAI, Azure) send alongside.
        int64_t retry_after = ParseRetryAfterMsHeader(r.response.Header("retry-after-ms"));
        if (retry_after <= 0) {
          retry_after = ParseRetryAfterMs(r.response.Header("retry-after"), clock_.WallMs());
        }
        return OnFailure(call, Failure::kRetryable, error, status, r.latency_ms, retry_after);
      }
    }
  }

  Result<ChatResponse> parsed = Error{Errc::kInternal, ""};
  if (req.stream) {
    if (!call->stream_error.empty()) {
      parsed = Error{Errc::kInvalidArgument, call->stream_error};
    } else {
      parsed = call->stream->Finish();
    }
  } else {
    parsed = adapter.ParseResponse(r.response.body);
  }
  if (!parsed.ok()) {
    return OnFailure(call, Failure::kMalformed, "malformed response: " + parsed.error().message,
                     status, r.latency_ms, 0);
  }

  breaker.RecordSuccess();
  ChatResponse response = std::move(*parsed);
  if (!response.usage_reported) {
    std::string output = response.content;
    for (const auto& tc : response.tool_calls) output += tc.name + tc.arguments_json;
    response.usage.input_tokens = EstimateTokens(req.request);
    response.usage.output_tokens = EstimateTokens(output);
    response.usage.estimated = true;
  }
  call->result.ok = true;
  call->result.model = model_name;
  call->result.cost_usd =
      static_cast<double>(response.usage.input_tokens) * model.input_usd_per_mtok / 1e6 +
      static_cast<double>(response.usage.output_tokens) * model.output_usd_per_mtok / 1e6;
  call->result.response = std::move(response);
  Report(*call, Attempt{model_name, call->attempt, status, "ok", "", r.latency_ms, 0});
  Finish(call);
}

void ModelCaller::OnFailure(const std::shared_ptr<CallState>& call, Failure kind, std::string error,
                            int http_status, int64_t latency_ms, int64_t retry_after_ms) {
  const std::string& model_name = call->models[call->index];
  const ProviderConfig& provider = config_.providers.at(config_.models.at(model_name).provider);
  Attempt a{model_name, call->attempt, http_status, "", error, latency_ms, 0};

  if (kind == Failure::kPermanent || kind == Failure::kSpendLimit) {
    // A 4xx is the request's fault, not a sign of the provider's health; an exhausted account
    // is, for every call that would go there.
    if (kind == Failure::kSpendLimit) {
      call->breaker->RecordFailure();
    } else {
      call->breaker->Release();
    }
    call->permanent_code = kind == Failure::kSpendLimit ? "spend_limit" : "invalid_request";
    call->permanent_summary = model_name + ": " + error;
    return LeaveModel(call, std::move(a));
  }

  call->breaker->RecordFailure();
  const RetryPolicy& policy = provider.retry;
  if (call->attempt < policy.max_attempts) {
    int64_t backoff = BackoffMs(policy, call->attempt + 1, retry_after_ms, random_);
    int64_t now = clock_.WallMs();
    const int64_t deadline = call->req.deadline_at_ms;
    if (deadline <= 0 || now + backoff < deadline) {
      a.outcome = "retry";
      a.backoff_ms = backoff;
      metrics_.GetCounter(kRetriesMetric, kRetriesHelp, Label("model", model_name)).Add();
      obs::Warn("model_retry", {{"run_id", call->req.run_id},
                                {"model", model_name},
                                {"attempt", call->attempt},
                                {"backoff_ms", backoff},
                                {"error", error}});
      Report(*call, std::move(a));
      return Schedule(call, now + backoff);
    }
  }
  ++call->failures;
  if (kind == Failure::kMalformed) ++call->malformed_failures;
  call->last_ceiling_ms = BackoffCeilingMs(policy, call->attempt + 1);
  LeaveModel(call, std::move(a));
}

void ModelCaller::LeaveModel(const std::shared_ptr<CallState>& call, Attempt a) {
  const std::string model_name = call->models[call->index];
  std::string summary = model_name + ": " + a.error;
  if (call->attempt > 1) summary += " after " + std::to_string(call->attempt) + " attempts";
  call->summaries.push_back(std::move(summary));
  bool has_next = call->index + 1 < call->models.size();
  a.outcome = has_next ? "fallback" : "failed";
  std::string error = a.error;
  Report(*call, std::move(a));
  NoteFallback(*call, error);
  ++call->index;
  call->attempt = 0;
  // The next attempt starts on the timer thread, not inside the HTTP client's callback.
  Schedule(call, clock_.WallMs());
}

void ModelCaller::NoteFallback(const CallState& call, const std::string& error) {
  if (call.index + 1 >= call.models.size()) return;
  const std::string& from = call.models[call.index];
  const std::string& to = call.models[call.index + 1];
  metrics_.GetCounter(kFallbacksMetric, kFallbacksHelp, Label("from", from) + "," + Label("to", to))
      .Add();
  obs::Warn("model_fallback",
            {{"run_id", call.req.run_id}, {"model", from}, {"to", to}, {"error", error}});
}

void ModelCaller::FinishExhausted(const std::shared_ptr<CallState>& call) {
  const std::string what = call->is_chain ? "every model of chain \"" + call->target + "\""
                                          : "model \"" + call->target + "\"";
  const std::string details = Join(call->summaries, "; ");
  if (!call->permanent_code.empty()) {
    std::string headline = call->permanent_code == "spend_limit"
                               ? "the provider's spend limit was reached"
                               : "the request was rejected";
    std::string message = headline + ": " + call->permanent_summary;
    if (call->summaries.size() > 1) message += " (" + what + " failed: " + details + ")";
    return FinishError(call, call->permanent_code, message);
  }
  if (call->malformed_failures > 0 && call->malformed_failures == call->failures) {
    return FinishError(call, "malformed_response", what + " sent a malformed response: " + details);
  }
  int64_t retry_at = 0;
  for (const auto& m : call->models) {
    const ProviderConfig& provider = config_.providers.at(config_.models.at(m).provider);
    int64_t at = breakers_.Get(BreakerKey(config_.models.at(m), m), provider.breaker).RetryAtMs();
    if (at > 0 && (retry_at == 0 || at < retry_at)) retry_at = at;
  }
  if (retry_at == 0) {
    retry_at = clock_.WallMs() + std::max(kMinRetryAfterExhaustedMs, call->last_ceiling_ms);
  }
  call->result.retry_at_ms = retry_at;
  FinishError(call, "provider_unavailable", what + " is unavailable: " + details);
}

void ModelCaller::FinishError(const std::shared_ptr<CallState>& call, std::string code,
                              std::string message) {
  call->result.ok = false;
  call->result.error_code = std::move(code);
  call->result.message = std::move(message);
  Finish(call);
}

void ModelCaller::Finish(const std::shared_ptr<CallState>& call) {
  {
    std::lock_guard lock(call->mu);
    if (call->finished) return;
    call->finished = true;
    call->waiting = false;
  }
  {
    std::lock_guard lock(live_mu_);
    live_.erase(call->id);
  }
  if (!call->result.ok) {
    // A cancellation is what someone asked for, not a degraded path.
    obs::Log(call->result.error_code == "cancelled" ? obs::Level::kInfo : obs::Level::kWarn,
             "model_call_failed",
             {{"run_id", call->req.run_id},
              {"target", call->target},
              {"error_code", call->result.error_code},
              {"message", call->result.message}});
  }
  auto done = std::move(call->done);
  if (done) done(std::move(call->result));
}

void ModelCaller::Report(CallState& call, Attempt attempt) {
  metrics_
      .GetCounter(kCallsMetric, kCallsHelp,
                  Label("model", attempt.target) + "," + Label("outcome", attempt.outcome))
      .Add();
  if (call.req.on_attempt) call.req.on_attempt(attempt);
  call.result.attempts.push_back(std::move(attempt));
}

}  // namespace keel::gateway
