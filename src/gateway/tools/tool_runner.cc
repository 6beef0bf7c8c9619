#include "gateway/tools/tool_runner.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <optional>

#include "gateway/mcp/mcp_client.h"
#include "gateway/policy/retry.h"
#include "gateway/tools/http_tool.h"
#include "gateway/tools/json_schema.h"
#include "gateway/tools/lua_tool.h"
#include "gateway/tools/mcp_tool.h"
#include "gateway/tools/tool_attempt.h"
#include "gateway/tools/worker_pool.h"
#include "lua/pure_function.h"
#include "observability/log.h"

namespace keel::gateway {

namespace json = boost::json;

namespace {

// MCP calls block for up to a server's timeout and Lua tools compute; a few threads keep
// either off the caller's and the HTTP client's threads.
constexpr int kWorkers = 4;
// A caller told "try again later" must not come back at once.
constexpr int64_t kMinRetryAfterFailureMs = 1000;
constexpr int64_t kNoTimeout = std::numeric_limits<int64_t>::max() / 4;
constexpr size_t kMaxArgsShown = 80;

constexpr const char* kCallsMetric = "keel_gateway_tool_calls_total";
constexpr const char* kCallsHelp = "Tool calls by tool and outcome (ok or the error code)";
constexpr const char* kSecondsMetric = "keel_gateway_tool_seconds";
constexpr const char* kSecondsHelp = "Tool call duration, retries included";

lua::PureLimits LuaLimits() {
  lua::PureLimits l;
  l.max_memory_bytes = 16 << 20;
  l.max_instructions = 100'000'000;
  return l;
}

std::string LabelValue(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// The exponential ceiling of the wait before `next_attempt` (2 = the first retry).
int64_t BackoffCeiling(const RetryPolicy& p, int next_attempt) {
  int64_t ceiling = std::max<int64_t>(0, p.base_backoff_ms);
  for (int n = 2; n < next_attempt && ceiling < p.max_backoff_ms; ++n) ceiling *= 2;
  return std::min(ceiling, std::max<int64_t>(0, p.max_backoff_ms));
}

std::string Shorten(std::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return std::string(s.substr(0, cut)) + "...";
}

struct ToolEntry {
  ToolConfig config;
  std::string description;
  json::value parameters;  // as described to models; null until known
  std::optional<JsonSchema> schema;
  std::shared_ptr<const lua::PureFunction> lua;
  McpClient* mcp = nullptr;
  std::string mcp_tool;
};

// Lets a caller's cancel, a timeout or Stop() halt an attempt running on a worker: an MCP
// call through its CancelToken, a Lua function through its interrupt flag. The first reason
// given is the one reported.
struct AttemptStop {
  std::shared_ptr<CancelToken> token = std::make_shared<CancelToken>();
  std::atomic<bool> interrupt{false};
  std::atomic<int> reason{static_cast<int>(StopReason::kNone)};

  void Stop(StopReason why) {
    int none = static_cast<int>(StopReason::kNone);
    reason.compare_exchange_strong(none, static_cast<int>(why));
    interrupt.store(true);
    token->Cancel();
  }
  StopReason why() const { return static_cast<StopReason>(reason.load()); }
};

struct InFlight {
  ToolCallRequest req;
  std::function<void(ToolCallResult)> done;
  const ToolEntry* tool = nullptr;
  json::object args;
  uint64_t id = 0;
  int64_t started_us = 0;
  int attempt = 0;  // attempts run one after another, never two at once
  std::atomic<bool> finished{false};

  std::mutex mu;
  std::vector<Attempt> attempts;         // guarded by mu
  std::shared_ptr<AttemptStop> running;  // guarded by mu: a worker attempt in flight

  void StopRunning(StopReason why) {
    std::shared_ptr<AttemptStop> s;
    {
      std::lock_guard lock(mu);
      s = running;
    }
    if (s) s->Stop(why);
  }
};

using CallPtr = std::shared_ptr<InFlight>;

// Everything a call in flight needs; shared with the callbacks of HTTP transfers and timers,
// which may outlive the ToolRunner by a little.
struct ToolRunnerCore : std::enable_shared_from_this<ToolRunnerCore> {
  ToolRunnerCore(AsyncHttpClient& http, BreakerSet& breakers, TimerQueue& timers,
                 const Clock& clock, Random& random, obs::Registry& metrics)
      : http(http),
        breakers(breakers),
        timers(timers),
        clock(clock),
        random(random),
        metrics(metrics) {}

  void Call(ToolCallRequest req, std::function<void(ToolCallResult)> done);
  // The first attempt starts on the caller's thread (an HTTP send does not block); `done`
  // never runs there.
  void StartAttempt(const CallPtr& c, bool on_caller_thread);
  void RunOnWorker(const CallPtr& c, CircuitBreaker* breaker, int64_t timeout_ms, bool clipped);
  void OnOutcome(const CallPtr& c, CircuitBreaker* breaker, AttemptOutcome o,
                 int64_t attempt_started_us);
  void Report(InFlight& c, const Attempt& a);
  void Fail(const CallPtr& c, std::string code, std::string message, int64_t retry_at_ms = 0);
  void Finish(const CallPtr& c, ToolCallResult r);
  // Fail, but from a worker when on the caller's thread.
  void FailFrom(bool on_caller_thread, const CallPtr& c, std::string code, std::string message,
                int64_t retry_at_ms = 0);
  // Fails a call that never started, on a worker (never on the caller's thread).
  void Reject(const std::string& tool, std::function<void(ToolCallResult)> done, std::string code,
              std::string message, int64_t retry_at_ms = 0);
  void Count(const std::string& tool, const std::string& outcome, double seconds);
  std::string KnownTools() const;

  AsyncHttpClient& http;
  BreakerSet& breakers;
  TimerQueue& timers;
  const Clock& clock;
  Random& random;
  obs::Registry& metrics;

  std::map<std::string, ToolEntry> tools;  // fixed once Start() returned
  std::map<std::string, McpServerConfig> mcp_configs;
  std::map<std::string, std::unique_ptr<McpClient>> mcp;  // by server name
  WorkerPool pool{kWorkers};
  std::atomic<bool> started{false};
  std::atomic<bool> stopping{false};

  std::mutex calls_mu;
  uint64_t next_call_id = 0;                         // guarded by calls_mu
  std::map<uint64_t, std::weak_ptr<InFlight>> live;  // guarded by calls_mu
};

std::string ToolRunnerCore::KnownTools() const {
  std::string names;
  for (const auto& [name, t] : tools) {
    // Internal tools ("$approval_webhook") are not for workflows or models to call.
    if (name.starts_with('$')) continue;
    if (!names.empty()) names += ", ";
    names += name;
  }
  return names;
}

std::string UnknownToolMessage(const std::string& name, const std::string& known) {
  return "unknown tool \"" + name + "\" (" +
         (known.empty() ? std::string("no tools are configured") : "known: " + known) + ")";
}

void ToolRunnerCore::Count(const std::string& tool, const std::string& outcome, double seconds) {
  std::string t = "tool=\"" + LabelValue(tool) + "\"";
  metrics.GetCounter(kCallsMetric, kCallsHelp, t + ",outcome=\"" + LabelValue(outcome) + "\"")
      .Add();
  metrics.GetHistogram(kSecondsMetric, kSecondsHelp, obs::LatencyBuckets(), t).Observe(seconds);
}

void ToolRunnerCore::Reject(const std::string& tool, std::function<void(ToolCallResult)> done,
                            std::string code, std::string message, int64_t retry_at_ms) {
  ToolCallResult r;
  r.error_code = std::move(code);
  r.message = std::move(message);
  r.retry_at_ms = retry_at_ms;
  // An unknown name comes from a model and could be anything: not a label value.
  Count(r.error_code == "unknown_tool" ? "(unknown)" : tool, r.error_code, 0);
  pool.Post([done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
}

void ToolRunnerCore::Call(ToolCallRequest req, std::function<void(ToolCallResult)> done) {
  auto it = tools.find(req.name);
  if (it == tools.end()) {
    return Reject(req.name, std::move(done), "unknown_tool",
                  UnknownToolMessage(req.name, KnownTools()));
  }
  const ToolEntry& tool = it->second;
  if (!started.load() || stopping.load()) {
    return Reject(req.name, std::move(done), "tool_unavailable",
                  stopping.load() ? "the gateway is stopping" : "the tool runner is not started",
                  clock.WallMs() + kMinRetryAfterFailureMs);
  }
  // Arguments: a JSON object, valid against the tool's schema, or nothing is sent.
  std::string_view text = req.args_json;
  json::value args;
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    args = json::object();  // a tool without parameters is often called with ""
  } else {
    json::error_code ec;
    args = json::parse(text, ec);
    if (ec) {
      return Reject(req.name, std::move(done), "invalid_arguments",
                    "arguments are not a JSON object: " + ec.message() + " in `" +
                        Shorten(text, kMaxArgsShown) + "`");
    }
  }
  if (!args.is_object()) {
    return Reject(req.name, std::move(done), "invalid_arguments",
                  "arguments are not a JSON object: got `" +
                      Shorten(json::serialize(args), kMaxArgsShown) + "`");
  }
  // A model's tool call whose arguments were not JSON reaches us as {"$raw": text}
  // (gateway::ResponseToJson); it is the model's error, never the tool's input.
  if (const auto* raw = args.as_object().if_contains("$raw");
      raw && raw->is_string() && args.as_object().size() == 1) {
    return Reject(req.name, std::move(done), "invalid_arguments",
                  "arguments are not a JSON object: `" +
                      Shorten(std::string_view(raw->get_string()), kMaxArgsShown) + "`");
  }
  if (tool.schema) {
    if (Status st = tool.schema->Validate(args, "arguments"); !st.ok()) {
      return Reject(req.name, std::move(done), "invalid_arguments", st.error().message);
    }
  }

  auto c = std::make_shared<InFlight>();
  c->req = std::move(req);
  c->done = std::move(done);
  c->tool = &tool;
  c->args = std::move(args.get_object());
  c->started_us = clock.MonoUs();
  {
    std::lock_guard lock(calls_mu);
    c->id = ++next_call_id;
    live[c->id] = c;
  }
  if (c->req.cancel) {
    // HTTP transfers watch the token themselves; this finishes the call at once whatever it
    // is doing (waiting out a backoff, blocked in an MCP call, running Lua).
    c->req.cancel->OnCancel([weak_self = weak_from_this(), weak_call = std::weak_ptr(c)] {
      auto self = weak_self.lock();
      auto call = weak_call.lock();
      if (!self || !call) return;
      call->StopRunning(StopReason::kCancelled);
      self->pool.Post([self, call] { self->Fail(call, "cancelled", "the call was cancelled"); });
    });
  }
  StartAttempt(c, true);
}

void ToolRunnerCore::StartAttempt(const CallPtr& c, bool on_caller_thread) {
  if (c->finished.load()) return;
  const ToolEntry& tool = *c->tool;
  const std::string& name = c->req.name;
  int64_t now = clock.WallMs();
  if (stopping.load()) {
    return FailFrom(on_caller_thread, c, "tool_unavailable", "the gateway is stopping",
                    now + kMinRetryAfterFailureMs);
  }
  if (c->req.cancel && c->req.cancel->cancelled()) {
    return FailFrom(on_caller_thread, c, "cancelled", "the call was cancelled");
  }
  int64_t timeout = tool.config.timeout_ms > 0 ? tool.config.timeout_ms : kNoTimeout;
  bool clipped = false;
  if (c->req.deadline_at_ms > 0) {
    int64_t left = c->req.deadline_at_ms - now;
    if (left <= 0) {
      return FailFrom(on_caller_thread, c, "deadline_exceeded",
                      "tool \"" + name + "\": the deadline passed before the call could be made");
    }
    if (left < timeout) {
      timeout = left;
      clipped = true;
    }
  }
  ++c->attempt;
  // A Lua tool is local computation: there is no endpoint whose health a breaker would track.
  CircuitBreaker* breaker =
      tool.config.kind == "lua" ? nullptr : &breakers.Get("tool:" + name, tool.config.breaker);
  if (breaker && !breaker->Allow()) {
    Attempt a;
    a.target = name;
    a.attempt = c->attempt;
    a.outcome = "breaker_open";
    a.error = "circuit breaker tool:" + name + " is open";
    Report(*c, a);
    int64_t retry_at = std::max(breaker->RetryAtMs(), now + kMinRetryAfterFailureMs);
    return FailFrom(on_caller_thread, c, "tool_unavailable",
                    "tool \"" + name + "\" is unavailable: its circuit breaker is open after " +
                        "repeated failures",
                    retry_at);
  }
  if (tool.config.kind == "http") {
    std::string key = c->req.idempotency_key.empty()
                          ? c->req.run_id + ":" + std::to_string(c->req.seq)
                          : c->req.idempotency_key;
    HttpRequest hr = BuildHttpToolRequest(tool.config, c->args, key, c->req.traceparent,
                                          timeout == kNoTimeout ? 0 : timeout);
    int64_t t0 = clock.MonoUs();
    http.Send(std::move(hr), c->req.cancel, nullptr,
              [self = shared_from_this(), c, breaker, clipped, t0](HttpResult r) {
                AttemptOutcome o =
                    ClassifyHttpToolResult(std::move(r), clipped, self->clock.WallMs());
                self->OnOutcome(c, breaker, std::move(o), t0);
              });
    return;
  }
  RunOnWorker(c, breaker, timeout, clipped);
}

void ToolRunnerCore::RunOnWorker(const CallPtr& c, CircuitBreaker* breaker, int64_t timeout_ms,
                                 bool clipped) {
  auto stop = std::make_shared<AttemptStop>();
  {
    std::lock_guard lock(c->mu);
    c->running = stop;
  }
  // A cancel that came just before `running` was set would have found nothing to stop.
  if (c->req.cancel && c->req.cancel->cancelled()) stop->Stop(StopReason::kCancelled);
  if (timeout_ms != kNoTimeout) {
    timers.At(clock.WallMs() + timeout_ms, [weak = std::weak_ptr(stop), clipped] {
      if (auto s = weak.lock()) s->Stop(clipped ? StopReason::kDeadline : StopReason::kTimeout);
    });
  }
  pool.Post([self = shared_from_this(), c, breaker, stop, timeout_ms] {
    const ToolEntry& tool = *c->tool;
    int64_t t0 = self->clock.MonoUs();
    AttemptOutcome o;
    if (self->stopping.load()) stop->Stop(StopReason::kCancelled);
    if (tool.config.kind == "mcp") {
      Result<McpCallResult> r =
          stop->interrupt.load()
              ? Result<McpCallResult>(Error{Errc::kUnavailable, "stopped before it was sent"})
              : tool.mcp->CallTool(tool.mcp_tool, json::value(c->args), stop->token);
      o = ClassifyMcpResult(r, stop->why(), timeout_ms);
    } else {
      std::string args = json::serialize(c->args);
      std::string name = c->req.name;
      auto r = lua::RunPureFunction(*tool.lua, args, LuaLimits(), &stop->interrupt,
                                    [&name](const std::string& line) {
                                      obs::Info("tool_print", {{"tool", name}, {"line", line}});
                                    });
      o = ClassifyLuaResult(r, stop->why(), timeout_ms);
    }
    {
      std::lock_guard lock(c->mu);
      c->running.reset();
    }
    self->OnOutcome(c, breaker, std::move(o), t0);
  });
}

void ToolRunnerCore::OnOutcome(const CallPtr& c, CircuitBreaker* breaker, AttemptOutcome o,
                               int64_t attempt_started_us) {
  using Kind = AttemptOutcome::Kind;
  if (breaker) {
    switch (o.kind) {
      case Kind::kOk:
        breaker->RecordSuccess();
        break;
      case Kind::kRetryable:
        breaker->RecordFailure();
        break;
      default:  // says nothing about the tool's health
        breaker->Release();
        break;
    }
  }
  if (c->finished.load()) return;  // cancelled meanwhile; the caller has its answer
  const std::string& name = c->req.name;
  Attempt a;
  a.target = name;
  a.attempt = c->attempt;
  a.http_status = o.http_status;
  a.error = o.error;
  a.latency_ms = (clock.MonoUs() - attempt_started_us) / 1000;
  int64_t now = clock.WallMs();
  if (stopping.load() && o.kind == Kind::kCancelled) {
    a.outcome = "failed";
    Report(*c, a);
    return Fail(c, "tool_unavailable", "the gateway is stopping", now + kMinRetryAfterFailureMs);
  }
  switch (o.kind) {
    case Kind::kOk: {
      a.outcome = "ok";
      Report(*c, a);
      ToolCallResult r;
      r.ok = true;
      r.result_json = std::move(o.result_json);
      return Finish(c, std::move(r));
    }
    case Kind::kToolError:
      a.outcome = "failed";
      Report(*c, a);
      return Fail(c, "tool_error", "tool \"" + name + "\": " + o.error);
    case Kind::kCancelled:
      a.outcome = "failed";
      Report(*c, a);
      return Fail(c, "cancelled", "the call was cancelled");
    case Kind::kDeadline:
      a.outcome = "failed";
      Report(*c, a);
      return Fail(c, "deadline_exceeded",
                  "tool \"" + name + "\": the deadline passed during attempt " +
                      std::to_string(c->attempt));
    case Kind::kRetryable:
      break;
  }
  const RetryPolicy& retry = c->tool->config.retry;
  int max_attempts = std::max(1, retry.max_attempts);
  if (c->attempt < max_attempts) {
    int64_t backoff = BackoffMs(retry, c->attempt + 1, o.retry_after_ms, random);
    if (c->req.deadline_at_ms > 0 && now + backoff >= c->req.deadline_at_ms) {
      a.outcome = "failed";
      Report(*c, a);
      return Fail(c, "deadline_exceeded",
                  "tool \"" + name + "\": " + o.error +
                      "; the deadline leaves no time for another attempt");
    }
    a.outcome = "retry";
    a.backoff_ms = backoff;
    Report(*c, a);
    obs::Warn("tool_retry", {{"tool", name},
                             {"run_id", c->req.run_id},
                             {"attempt", c->attempt},
                             {"error", o.error},
                             {"backoff_ms", backoff}});
    // The timer thread only posts: an attempt may finish the call, and `done` belongs on a
    // worker.
    timers.At(now + backoff, [self = shared_from_this(), c] {
      self->pool.Post([self, c] { self->StartAttempt(c, false); });
    });
    return;
  }
  a.outcome = "failed";
  Report(*c, a);
  int64_t wait =
      std::max({kMinRetryAfterFailureMs, BackoffCeiling(retry, c->attempt + 1), o.retry_after_ms});
  int64_t retry_at = std::max(now + wait, breaker ? breaker->RetryAtMs() : 0);
  Fail(c, "tool_unavailable",
       "tool \"" + name + "\" failed " + std::to_string(c->attempt) +
           (c->attempt == 1 ? " attempt" : " attempts") + "; last: " + o.error,
       retry_at);
}

void ToolRunnerCore::Report(InFlight& c, const Attempt& a) {
  if (c.finished.load()) return;
  {
    std::lock_guard lock(c.mu);
    c.attempts.push_back(a);
  }
  if (c.req.on_attempt) c.req.on_attempt(a);
}

void ToolRunnerCore::Fail(const CallPtr& c, std::string code, std::string message,
                          int64_t retry_at_ms) {
  ToolCallResult r;
  r.error_code = std::move(code);
  r.message = std::move(message);
  r.retry_at_ms = retry_at_ms;
  Finish(c, std::move(r));
}

void ToolRunnerCore::FailFrom(bool on_caller_thread, const CallPtr& c, std::string code,
                              std::string message, int64_t retry_at_ms) {
  if (!on_caller_thread) return Fail(c, std::move(code), std::move(message), retry_at_ms);
  pool.Post(
      [self = shared_from_this(), c, code = std::move(code), message = std::move(message),
       retry_at_ms]() mutable { self->Fail(c, std::move(code), std::move(message), retry_at_ms); });
}

void ToolRunnerCore::Finish(const CallPtr& c, ToolCallResult r) {
  if (c->finished.exchange(true)) return;
  {
    std::lock_guard lock(calls_mu);
    live.erase(c->id);
  }
  {
    std::lock_guard lock(c->mu);
    r.attempts = c->attempts;
  }
  Count(c->req.name, r.ok ? "ok" : r.error_code,
        static_cast<double>(clock.MonoUs() - c->started_us) / 1e6);
  auto done = std::move(c->done);
  done(std::move(r));
}

}  // namespace

struct ToolRunner::Impl {
  std::shared_ptr<ToolRunnerCore> core;
};

ToolRunner::ToolRunner(const GatewayConfig& config, AsyncHttpClient& http, BreakerSet& breakers,
                       TimerQueue& timers, const Clock& clock, Random& random,
                       obs::Registry& metrics)
    : impl_(std::make_unique<Impl>()) {
  impl_->core = std::make_shared<ToolRunnerCore>(http, breakers, timers, clock, random, metrics);
  for (const auto& [name, tc] : config.tools) {
    ToolEntry e;
    e.config = tc;
    if (e.config.name.empty()) e.config.name = name;
    e.description = tc.description;
    e.parameters = tc.parameters;
    e.mcp_tool = tc.mcp_tool.empty() ? name : tc.mcp_tool;
    impl_->core->tools.emplace(name, std::move(e));
  }
  impl_->core->mcp_configs = config.mcp_servers;
}

ToolRunner::~ToolRunner() { Stop(); }

Status ToolRunner::Start() {
  ToolRunnerCore& core = *impl_->core;
  auto named = [](const std::string& tool, const std::string& what) {
    return Error{Errc::kInvalidArgument, "tool \"" + tool + "\": " + what};
  };
  // Servers first: their listings complete the MCP tools below.
  std::map<std::string, std::vector<McpTool>> listings;
  for (const auto& [name, sc] : core.mcp_configs) {
    McpServerConfig cfg = sc;
    if (cfg.name.empty()) cfg.name = name;
    auto client = std::make_unique<McpClient>(cfg);
    if (Status st = client->Connect(); !st.ok()) return st.error();
    auto listed = client->ListTools();
    if (!listed.ok()) return listed.error();
    listings[name] = std::move(*listed);
    core.mcp[name] = std::move(client);
  }
  for (auto& [name, e] : core.tools) {
    const std::string& kind = e.config.kind;
    if (kind == "http") {
      if (e.config.url.empty()) return named(name, "an http tool needs a url");
    } else if (kind == "lua") {
      if (e.config.lua_file.empty()) return named(name, "a lua tool needs lua_file");
      auto fn = lua::LoadPureFunction(e.config.lua_file, LuaLimits());
      if (!fn.ok()) return named(name, fn.error().message);
      e.lua = std::move(*fn);
    } else if (kind == "mcp") {
      auto server = core.mcp.find(e.config.mcp_server);
      if (server == core.mcp.end()) {
        return named(name, "mcp_server \"" + e.config.mcp_server + "\" is not configured");
      }
      e.mcp = server->second.get();
      const auto& listed = listings[server->first];
      auto found = std::find_if(listed.begin(), listed.end(),
                                [&](const McpTool& t) { return t.name == e.mcp_tool; });
      if (found == listed.end()) {
        std::string names;
        for (const auto& t : listed) names += (names.empty() ? "" : ", ") + t.name;
        return named(name, "mcp server \"" + server->first + "\" has no tool \"" + e.mcp_tool +
                               "\" (it has: " + (names.empty() ? "none" : names) + ")");
      }
      if (e.description.empty()) e.description = found->description;
      if (e.parameters.is_null()) e.parameters = found->input_schema;
    } else {
      return named(name, "unknown kind \"" + kind + "\" (http, mcp or lua)");
    }
    if (!e.parameters.is_null()) {
      auto schema = JsonSchema::Compile(e.parameters);
      if (!schema.ok()) return named(name, "parameters: " + schema.error().message);
      e.schema = std::move(*schema);
    }
  }
  core.started.store(true);
  return OkStatus();
}

void ToolRunner::Stop() {
  ToolRunnerCore& core = *impl_->core;
  if (core.stopping.exchange(true)) return;
  std::vector<CallPtr> live;
  {
    std::lock_guard lock(core.calls_mu);
    for (auto& [id, weak] : core.live) {
      if (auto c = weak.lock()) live.push_back(std::move(c));
    }
  }
  for (auto& c : live) c->StopRunning(StopReason::kCancelled);
  core.pool.Stop();
  core.mcp.clear();
}

void ToolRunner::Call(ToolCallRequest req, std::function<void(ToolCallResult)> done) {
  impl_->core->Call(std::move(req), std::move(done));
}

Result<json::object> ToolRunner::Describe(const std::string& name) const {
  const ToolRunnerCore& core = *impl_->core;
  auto it = core.tools.find(name);
  if (it == core.tools.end()) {
    return Error{Errc::kNotFound, UnknownToolMessage(name, core.KnownTools())};
  }
  const ToolEntry& e = it->second;
  return json::object{
      {"name", name},
      {"description", e.description},
      {"parameters",
       e.parameters.is_null() ? json::value(json::object{{"type", "object"}}) : e.parameters}};
}

}  // namespace keel::gateway
