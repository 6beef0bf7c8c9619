#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "api/call.h"
#include "api/http_server.h"
#include "engine/engine.h"
#include "model/json.h"

namespace keel::api {

// What handlers may use. Owned by the server; handlers run only while it is serving, but
// callbacks they give the engine must not capture it (they may run after the server is gone):
// they capture the Call and `engine` instead.
struct ApiContext {
  engine::Engine& engine;
  HttpOptions opts;
  model::JsonLimits json_limits;
  std::function<bool()> draining;
  std::function<std::string()> metrics_text;  // registry rendering plus the hook's text
};

// Handlers answer through `call`, now or later. They may throw: the server turns an exception
// into 500 internal.
void HandleSubmitRun(const ApiContext& ctx, const std::shared_ptr<Call>& call);
void HandleListRuns(const ApiContext& ctx, const std::shared_ptr<Call>& call);
void HandleGetRun(const ApiContext& ctx, const std::shared_ptr<Call>& call);
void HandleGetJournal(const ApiContext& ctx, const std::shared_ptr<Call>& call);
void HandleGetEvents(const ApiContext& ctx, const std::shared_ptr<Call>& call);
void HandleCancelRun(const ApiContext& ctx, const std::shared_ptr<Call>& call);
void HandleInterruptRun(const ApiContext& ctx, const std::shared_ptr<Call>& call);
void HandleSignalRun(const ApiContext& ctx, const std::shared_ptr<Call>& call);
void HandleHealthz(const ApiContext& ctx, const std::shared_ptr<Call>& call);
void HandleReadyz(const ApiContext& ctx, const std::shared_ptr<Call>& call);
void HandleMetrics(const ApiContext& ctx, const std::shared_ptr<Call>& call);
void HandleStatus(const ApiContext& ctx, const std::shared_ptr<Call>& call);

// Shared by the handler files.
Response JsonResponse(int status, std::string body);
// The run object; 200 if terminal, else 202 with Location. Keel-Idempotent-Replay when
// `replay`.
Response RunResponse(const model::RunRecord& run, bool replay);
// Runs `fn`, turning an escaping exception into a 500 answer on `call` (and an error log), so
// nothing throws into engine threads.
void Guarded(const std::shared_ptr<Call>& call, const char* where, const std::function<void()>& fn);

}  // namespace keel::api
