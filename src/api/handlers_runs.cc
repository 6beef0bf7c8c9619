// Handlers of /v1/runs routes except the event stream (sse_stream.cc).

#include <algorithm>
#include <atomic>
#include <exception>
#include <optional>

#include <boost/json.hpp>

#include "api/errors.h"
#include "api/handlers.h"
#include "observability/log.h"

namespace keel::api {

namespace json = boost::json;

namespace {

constexpr int64_t kDefaultListLimit = 50;
constexpr int64_t kMaxListLimit = 500;
constexpr int64_t kDefaultJournalLimit = 1000;
constexpr int64_t kMaxJournalLimit = 10000;

void ReplyError(const std::shared_ptr<Call>& call, const ApiError& e) {
  call->Reply(ErrorResponse(e));
}

Response AcceptedResponse() { return JsonResponse(202, R"({"accepted":true})"); }

// The statuses GET /v1/runs?status= accepts, for its error message.
constexpr std::string_view kRunStatuses =
    "queued running waiting succeeded failed cancelled timed_out budget_exhausted compensated "
    "compensation_failed";

// POST /v1/runs/{id}/cancel: compensate from ?compensate=true|false and/or the body
// {"compensate": bool} (`body`: null when empty); they must agree when both are given.
Result<bool> CancelCompensate(const QueryParams& query, const json::value& body) {
  std::optional<bool> from_query;
  if (auto raw = query.Get("compensate")) {
    if (*raw == "true" || *raw == "1") {
      from_query = true;
    } else if (*raw == "false" || *raw == "0") {
      from_query = false;
    } else {
      return Error{Errc::kInvalidArgument,
                   "compensate: must be true or false, not '" + std::string(*raw) + "'"};
    }
  }
  std::optional<bool> from_body;
  if (const json::object* o = body.if_object()) {
    for (const auto& kv : *o) {
      if (kv.key() != "compensate") {
        return Error{Errc::kInvalidArgument, "unknown field '" + std::string(kv.key()) +
                                                 "'; the body is {\"compensate\": bool}"};
      }
      if (!kv.value().is_bool()) {
        return Error{Errc::kInvalidArgument, "compensate: must be a boolean"};
      }
      from_body = kv.value().get_bool();
    }
  }
  if (from_query && from_body && *from_query != *from_body) {
    return Error{Errc::kInvalidArgument,
                 "compensate: the query says " + std::string(*from_query ? "true" : "false") +
                     " and the body says " + (*from_body ? "true" : "false")};
  }
  return from_query.value_or(from_body.value_or(false));
}

// State shared by the two ways a POST /v1/runs?wait= ends: the run's terminal callback (engine
// thread) and the timer (strand). Whoever flips `answered` first answers.
struct SubmitWait {
  std::atomic<bool> answered{false};
};

// Runs in the engine's Submit callback (engine or store thread). Registering OnTerminal here
// is race-free: the callback runs before the run's first step.
void OnSubmitted(engine::Engine& engine, const std::shared_ptr<Call>& call, int64_t wait_ms,
                 Result<engine::SubmitOutcome> r) {
  if (!r.ok()) {
    ReplyError(call, SubmitToApiError(r.error()));
    return;
  }
  engine::SubmitOutcome out = std::move(r).value();
  if (wait_ms <= 0 || model::IsTerminal(out.run.status)) {
    call->Reply(RunResponse(out.run, out.existing));
    return;
  }
  auto wait = std::make_shared<SubmitWait>();
  const bool replay = out.existing;
  engine::Engine::WatchId watch = engine.OnTerminal(
      out.run.id, /*check_now=*/replay, [call, wait, replay](const model::RunRecord& run) {
        if (wait->answered.exchange(true)) return;
        Guarded(call, "submit_terminal", [&] { call->Reply(RunResponse(run, replay)); });
      });
  // Unwatch always happens on the strand, never inside an engine callback. The timer's
  // callback runs exactly once: fired, or cancelled when the terminal reply ends the call.
  call->Post([&engine, call, wait, watch, wait_ms, replay, snapshot = std::move(out.run)]() {
    if (wait->answered.load() || call->Closed()) {
      engine.Unwatch(watch);
      return;
    }
    call->StartTimer(wait_ms, [&engine, call, wait, watch, replay, snapshot](bool fired) {
      engine.Unwatch(watch);
      if (!fired || wait->answered.exchange(true)) return;
      // A fresher view than the admission snapshot; 200 if it ended just now.
      auto now = engine.GetRun(snapshot.id);
      call->Reply(RunResponse(now.ok() ? now.value() : snapshot, replay));
    });
  });
}

}  // namespace

Result<int64_t> IntParam(const QueryParams& q, std::string_view name, int64_t fallback, int64_t lo,
                         int64_t hi) {
  auto raw = q.Get(name);
  if (!raw) return fallback;
  auto v = ParseNonNegativeInt(*raw);
  if (!v || *v < lo || *v > hi) {
    return Error{Errc::kInvalidArgument, std::string(name) + ": must be an integer in " +
                                             std::to_string(lo) + ".." + std::to_string(hi)};
  }
  return *v;
}

Result<json::value> ParseBody(const ApiContext& ctx, const std::string& body,
                              std::optional<json::value> empty_value) {
  if (body.empty() && empty_value) return *empty_value;
  if (body.empty()) return Error{Errc::kInvalidArgument, "request body is empty; JSON expected"};
  return model::ParseJson(body, ctx.json_limits);
}

json::object RunJson(const model::RunRecord& run) {
  json::object o = model::RunToJson(run);
  if (run.parent_run_id.empty()) {
    o.erase("parent_run_id");
  } else {
    o["parent_run_id"] = run.parent_run_id;
  }
  o["cancel_requested"] = run.cancel_requested;
  return o;
}

json::object EntryJson(const model::JournalEntry& e) {
  json::object o = model::EntryToJson(e);
  if (e.branch.empty()) {
    o.erase("branch");
  } else {
    o["branch"] = e.branch;
  }
  return o;
}

Response JsonResponse(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response RunResponse(const model::RunRecord& run, bool replay) {
  bool terminal = model::IsTerminal(run.status);
  Response r = JsonResponse(terminal ? 200 : 202, json::serialize(RunJson(run)));
  if (!terminal) r.headers.emplace_back("Location", "/v1/runs/" + run.id);
  if (replay) r.headers.emplace_back("Keel-Idempotent-Replay", "true");
  return r;
}

void Guarded(const std::shared_ptr<Call>& call, const char* where,
             const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    obs::Error("http_handler_exception", {{"where", where}, {"what", e.what()}});
    call->Reply(ErrorResponse(Internal("internal error")));
  } catch (...) {
    obs::Error("http_handler_exception", {{"where", where}, {"what", "unknown exception"}});
    call->Reply(ErrorResponse(Internal("internal error")));
  }
}

void HandleSubmitRun(const ApiContext& ctx, const std::shared_ptr<Call>& call) {
  const Request& req = call->request();
  int64_t wait_ms = 0;
  if (auto raw = req.query.Get("wait")) {
    auto v = ParseNonNegativeInt(*raw);
    if (!v) return ReplyError(call, InvalidArgument("wait: must be a non-negative integer (ms)"));
    wait_ms = std::min(*v, ctx.opts.max_wait_ms);
  }
  auto body = ParseBody(ctx, req.body);
  if (!body.ok()) return ReplyError(call, InvalidJson(body.error().message));
  if (!body->is_object()) {
    return ReplyError(call, InvalidJson("body: must be a JSON object (the invocation envelope)"));
  }
  auto env = model::EnvelopeFromJson(*body);
  if (!env.ok()) return ReplyError(call, ToApiError(env.error()));

  engine::Engine& engine = ctx.engine;
  engine.Submit(std::move(env).value(), [&engine, call, wait_ms](Result<engine::SubmitOutcome> r) {
    Guarded(call, "submit", [&] { OnSubmitted(engine, call, wait_ms, std::move(r)); });
  });
}

void HandleListRuns(const ApiContext& ctx, const std::shared_ptr<Call>& call) {
  const QueryParams& q = call->request().query;
  store::RunFilter filter;
  if (auto v = q.Get("intent")) filter.intent = std::string(*v);
  if (auto v = q.Get("tenant")) filter.tenant = std::string(*v);
  if (auto v = q.Get("cursor")) filter.before_id = std::string(*v);
  if (auto v = q.Get("status"); v && !v->empty()) {
    auto status = model::ParseStatus(*v);
    if (!status) {
      return ReplyError(call, InvalidArgument("status: unknown run status '" + std::string(*v) +
                                              "'; one of " + std::string(kRunStatuses)));
    }
    filter.status = *status;
  }
  auto limit = IntParam(q, "limit", kDefaultListLimit, 1, kMaxListLimit);
  if (!limit.ok()) return ReplyError(call, ToApiError(limit.error()));
  filter.limit = static_cast<int>(*limit);

  auto runs = ctx.engine.ListRuns(filter);
  if (!runs.ok()) return ReplyError(call, ToApiError(runs.error()));
  json::array arr;
  arr.reserve(runs->size());
  for (const auto& run : *runs) arr.push_back(RunJson(run));
  json::object o;
  o["runs"] = std::move(arr);
  if (static_cast<int64_t>(runs->size()) >= *limit && !runs->empty()) {
    o["next_cursor"] = runs->back().id;
  } else {
    o["next_cursor"] = nullptr;
  }
  call->Reply(JsonResponse(200, json::serialize(o)));
}

void HandleGetRun(const ApiContext& ctx, const std::shared_ptr<Call>& call) {
  auto run = ctx.engine.GetRun(call->request().match.Param("id"));
  if (!run.ok()) return ReplyError(call, ToApiError(run.error()));
  call->Reply(JsonResponse(200, json::serialize(RunJson(*run))));
}

void HandleGetJournal(const ApiContext& ctx, const std::shared_ptr<Call>& call) {
  const Request& req = call->request();
  const std::string& id = req.match.Param("id");
  auto after = IntParam(req.query, "after", 0, 0, INT64_MAX);
  if (!after.ok()) return ReplyError(call, ToApiError(after.error()));
  auto limit = IntParam(req.query, "limit", kDefaultJournalLimit, 1, kMaxJournalLimit);
  if (!limit.ok()) return ReplyError(call, ToApiError(limit.error()));

  auto entries = ctx.engine.ReadJournal(id, *after, static_cast<int>(*limit));
  if (!entries.ok()) return ReplyError(call, ToApiError(entries.error()));
  if (entries->empty()) {
    // An empty page is also what a missing run reads as: tell them apart.
    auto run = ctx.engine.GetRun(id);
    if (!run.ok()) return ReplyError(call, ToApiError(run.error()));
  }
  json::array arr;
  arr.reserve(entries->size());
  for (const auto& e : *entries) arr.push_back(EntryJson(e));
  json::object o;
  o["run_id"] = id;
  o["entries"] = std::move(arr);
  call->Reply(JsonResponse(200, json::serialize(o)));
}

void HandleCancelRun(const ApiContext& ctx, const std::shared_ptr<Call>& call) {
  const Request& req = call->request();
  auto body = ParseBody(ctx, req.body, json::value(nullptr));
  if (!body.ok()) return ReplyError(call, InvalidJson(body.error().message));
  if (!body->is_object() && !body->is_null()) {
    return ReplyError(call, InvalidJson("body: must be a JSON object {\"compensate\": bool}"));
  }
  auto compensate = CancelCompensate(req.query, *body);
  if (!compensate.ok()) return ReplyError(call, ToApiError(compensate.error()));
  ctx.engine.Cancel(req.match.Param("id"), *compensate, [call](Result<model::RunRecord> r) {
    Guarded(call, "cancel", [&] {
      if (!r.ok()) return ReplyError(call, ToApiError(r.error()));
      call->Reply(JsonResponse(200, json::serialize(RunJson(*r))));
    });
  });
}

void HandleInterruptRun(const ApiContext& ctx, const std::shared_ptr<Call>& call) {
  const Request& req = call->request();
  auto body = ParseBody(ctx, req.body);
  if (!body.ok()) return ReplyError(call, InvalidJson(body.error().message));
  if (!body->is_object()) {
    return ReplyError(call, InvalidJson("body: must be a JSON object {\"input\": ...}"));
  }
  const json::object& o = body->as_object();
  auto it = o.find("input");
  if (it == o.end()) return ReplyError(call, InvalidArgument("input: required"));
  ctx.engine.Interrupt(req.match.Param("id"), json::serialize(it->value()), [call](Result<Ok> r) {
    Guarded(call, "interrupt", [&] {
      if (!r.ok()) return ReplyError(call, ToApiError(r.error()));
      call->Reply(AcceptedResponse());
    });
  });
}

void HandleSignalRun(const ApiContext& ctx, const std::shared_ptr<Call>& call) {
  const Request& req = call->request();
  const std::string& name = req.match.Param("name");
  if (!ValidSignalName(name)) {
    return ReplyError(
        call, InvalidArgument("name: a signal name is 1..128 characters of [A-Za-z0-9_.:-]"));
  }
  auto body = ParseBody(ctx, req.body, json::value(nullptr));
  if (!body.ok()) return ReplyError(call, InvalidJson(body.error().message));
  ctx.engine.Signal(req.match.Param("id"), name, json::serialize(*body), [call](Result<Ok> r) {
    Guarded(call, "signal", [&] {
      if (!r.ok()) return ReplyError(call, ToApiError(r.error()));
      call->Reply(AcceptedResponse());
    });
  });
}

}  // namespace keel::api
