#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

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
void HandleListApprovals(const ApiContext& ctx, const std::shared_ptr<Call>& call);
void HandleGetApproval(const ApiContext& ctx, const std::shared_ptr<Call>& call);
void HandleDecideApproval(const ApiContext& ctx, const std::shared_ptr<Call>& call);
void HandleListOutbox(const ApiContext& ctx, const std::shared_ptr<Call>& call);
void HandleHealthz(const ApiContext& ctx, const std::shared_ptr<Call>& call);
void HandleReadyz(const ApiContext& ctx, const std::shared_ptr<Call>& call);
void HandleMetrics(const ApiContext& ctx, const std::shared_ptr<Call>& call);
void HandleStatus(const ApiContext& ctx, const std::shared_ptr<Call>& call);

// Shared by the handler files.
Response JsonResponse(int status, std::string body);
// The run object; 200 if terminal, else 202 with Location. Keel-Idempotent-Replay when
// `replay`.
Response RunResponse(const model::RunRecord& run, bool replay);
// The run object of docs/api/http.md: model::RunToJson plus "parent_run_id" (only for a child
// run) and "cancel_requested".
boost::json::object RunJson(const model::RunRecord& run);
// A journal entry: model::EntryToJson plus "branch" for an entry of a parallel branch.
boost::json::object EntryJson(const model::JournalEntry& e);
// An optional integer query parameter in [lo, hi]; `fallback` when absent. The error names
// the parameter.
Result<int64_t> IntParam(const QueryParams& q, std::string_view name, int64_t fallback, int64_t lo,
                         int64_t hi);
// Parses a request body as JSON within the limits; an empty body is `empty_value` (an error
// without one).
Result<boost::json::value> ParseBody(const ApiContext& ctx, const std::string& body,
                                     std::optional<boost::json::value> empty_value = std::nullopt);
// Runs `fn`, turning an escaping exception into a 500 answer on `call` (and an error log), so
// nothing throws into engine threads.
void Guarded(const std::shared_ptr<Call>& call, const char* where, const std::function<void()>& fn);

}  // namespace keel::api
