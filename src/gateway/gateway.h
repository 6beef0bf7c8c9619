#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "base/result.h"
#include "gateway/cancel.h"
#include "gateway/chat.h"

namespace keel::gateway {

// One attempt of the policy chain, as journaled inside the llm/tool entry and streamed to
// the run's event stream when it happens.
struct Attempt {
  std::string target;  // model name, or tool name
  int attempt = 0;     // 1-based, per target
  int http_status = 0;
  // ok | retry (will try the same target again) | fallback (moving to the next model) |
  // breaker_open (skipped: its breaker is open) | failed (gave up on this target)
  std::string outcome;
  std::string error;  // what went wrong, e.g. "HTTP 503: overloaded", "stream stalled 5s"
  int64_t latency_ms = 0;
  int64_t backoff_ms = 0;  // wait before the next attempt (retry only)
};
boost::json::object AttemptToJson(const Attempt& a);

// Called as each decision is made (any thread; must be quick): the engine forwards these to
// event streams and logs.
using AttemptFn = std::function<void(const Attempt&)>;

struct ModelCallRequest {
  std::string run_id;
  std::string tenant;
  std::string intent;
  std::string target;           // a model or chain name; empty: the configured default
  boost::json::object request;  // neutral (chat.h); blob references already resolved
  int64_t deadline_at_ms = 0;   // wall ms; no attempt starts or outlives it; 0: none
  bool stream = false;          // stream from the provider; deltas go to on_text
  bool prefer_last = false;     // degrade: start at the chain's last (cheapest) model
  std::shared_ptr<CancelToken> cancel;
  std::function<void(std::string_view text)> on_text;
  AttemptFn on_attempt;
};

struct ModelCallResult {
  bool ok = false;
  // ok:
  ChatResponse response;
  std::string model;  // Keel's name of the model that answered
  double cost_usd = 0;
  // failure:
  //   provider_unavailable (every model of the chain is open or kept failing with retryable
  //   errors: wait and try again at retry_at_ms), invalid_request, spend_limit,
  //   malformed_response, unknown_model, deadline_exceeded, cancelled
  std::string error_code;
  std::string message;
  int64_t retry_at_ms = 0;
  std::vector<Attempt> attempts;
};

struct ToolCallRequest {
  std::string run_id;
  std::string tenant;
  std::string intent;
  int64_t seq = 0;              // the journal seq the result will take: Idempotency-Key run_id:seq
  std::string idempotency_key;  // overrides run_id:seq (outbox notifications)
  std::string name;
  std::string args_json;
  std::string traceparent;  // W3C; sent as a header to HTTP tools
  int64_t deadline_at_ms = 0;
  std::shared_ptr<CancelToken> cancel;
  AttemptFn on_attempt;
};

struct ToolCallResult {
  bool ok = false;
  std::string result_json;  // ok: the tool's result (any JSON value)
  // failure: invalid_arguments (never sent: schema or JSON error, message says which field),
  //   unknown_tool, tool_error (the tool answered 4xx or an MCP isError result),
  //   tool_unavailable (breaker open or retries exhausted: wait until retry_at_ms),
  //   deadline_exceeded, cancelled
  std::string error_code;
  std::string message;
  int64_t retry_at_ms = 0;
  std::vector<Attempt> attempts;
};

// Price of a model in USD per million tokens.
struct Price {
  double input_usd_per_mtok = 0;
  double output_usd_per_mtok = 0;
};

// The model and tool gateway: every call passes timeout → retry → breaker → fallback, and
// reports what it decided. Thread-safe; `done` runs exactly once on a gateway thread and
// must not block.
class Gateway {
 public:
  virtual ~Gateway() = default;
  virtual void CallModel(ModelCallRequest req, std::function<void(ModelCallResult)> done) = 0;
  virtual void CallTool(ToolCallRequest req, std::function<void(ToolCallResult)> done) = 0;

  // What the engine must know about a tool before calling it; kNotFound for an unknown one.
  struct ToolTraits {
    bool effect = false;          // a side effect: delivered through the outbox
    std::string compensate_with;  // the tool that undoes it ("" if none)
    int outbox_max_attempts = 10;
  };
  virtual Result<ToolTraits> TraitsOf(const std::string& tool) const = 0;

  // {"name","description","parameters"} of a tool, as given to a model.
  virtual Result<boost::json::object> DescribeTool(const std::string& name) const = 0;
  // Models a target resolves to, in order (a model name resolves to itself).
  virtual Result<std::vector<std::string>> ResolveTarget(const std::string& target) const = 0;
  virtual Price PriceOf(const std::string& model) const = 0;
  // Breakers by key ("provider/model" or "tool:name"): [{"key","state","failures",
  // "requests","opened_at_ms","retry_at_ms"}] for `keel status` and GET /v1/status.
  virtual boost::json::array BreakerStates() const = 0;
};

}  // namespace keel::gateway
