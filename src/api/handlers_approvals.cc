// Handlers of /v1/approvals (human approval gates) and /v1/outbox (effect intents).

#include <algorithm>
#include <array>
#include <string_view>

#include <boost/json.hpp>

#include "api/errors.h"
#include "api/handlers.h"
#include "model/approval.h"
#include "model/outbox.h"

namespace keel::api {

namespace json = boost::json;

namespace {

constexpr int64_t kDefaultListLimit = 50;
constexpr int64_t kMaxListLimit = 500;
constexpr size_t kMaxDeciderChars = 200;
constexpr size_t kMaxReasonChars = 4000;

constexpr std::array<std::string_view, 4> kApprovalStatuses{"pending", "approved", "denied",
                                                            "withdrawn"};
constexpr std::array<std::string_view, 3> kOutboxStatuses{"pending", "delivered", "failed"};

void ReplyError(const std::shared_ptr<Call>& call, const ApiError& e) {
  call->Reply(ErrorResponse(e));
}

template <size_t N>
std::string OneOf(const std::array<std::string_view, N>& values) {
  std::string out;
  for (std::string_view v : values) {
    if (!out.empty()) out += " ";
    out += v;
  }
  return out;
}

// An optional status filter: "" (any) or one of `allowed`.
template <size_t N>
Result<std::string> StatusParam(const QueryParams& q,
                                const std::array<std::string_view, N>& allowed) {
  auto raw = q.Get("status");
  if (!raw || raw->empty()) return std::string();
  if (std::find(allowed.begin(), allowed.end(), *raw) == allowed.end()) {
    return Error{Errc::kInvalidArgument,
                 "status: unknown status '" + std::string(*raw) + "'; one of " + OneOf(allowed)};
  }
  return std::string(*raw);
}

size_t CodePoints(std::string_view s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

bool IsBlank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// The body of POST /v1/approvals/{id}/decision: {"decision", "by", "reason"?}.
Result<store::ApprovalDecision> DecisionFromJson(const json::object& o, std::string approval_id) {
  store::ApprovalDecision d;
  d.approval_id = std::move(approval_id);
  for (const auto& kv : o) {
    std::string_view key = kv.key();
    if (key != "decision" && key != "by" && key != "reason") {
      return Error{Errc::kInvalidArgument, "unknown field '" + std::string(key) +
                                               "'; the body is {\"decision\", \"by\", \"reason\"}"};
    }
  }
  const json::value* decision = o.if_contains("decision");
  if (decision == nullptr) {
    return Error{Errc::kInvalidArgument, "decision: required (\"approved\" or \"denied\")"};
  }
  std::string_view value = decision->is_string() ? std::string_view(decision->get_string()) : "";
  if (value == "approved" || value == "approve") {
    d.decision = "approved";
  } else if (value == "denied" || value == "deny") {
    d.decision = "denied";
  } else {
    return Error{Errc::kInvalidArgument, "decision: must be \"approved\" or \"denied\""};
  }

  const json::value* by = o.if_contains("by");
  if (by == nullptr || !by->is_string() || IsBlank(by->get_string())) {
    return Error{Errc::kInvalidArgument,
                 "by: required, the name of the person deciding (a non-empty string)"};
  }
  d.who = std::string(by->get_string());
  if (CodePoints(d.who) > kMaxDeciderChars) {
    return Error{Errc::kInvalidArgument,
                 "by: at most " + std::to_string(kMaxDeciderChars) + " characters"};
  }
  // The timeout decides as "keel:timeout": a person must not be mistaken for it in the audit.
  if (d.who.rfind("keel:", 0) == 0) {
    return Error{Errc::kInvalidArgument, "by: names starting with \"keel:\" are reserved"};
  }

  if (const json::value* reason = o.if_contains("reason"); reason && !reason->is_null()) {
    if (!reason->is_string()) return Error{Errc::kInvalidArgument, "reason: must be a string"};
    d.reason = std::string(reason->get_string());
    if (CodePoints(d.reason) > kMaxReasonChars) {
      return Error{Errc::kInvalidArgument,
                   "reason: at most " + std::to_string(kMaxReasonChars) + " characters"};
    }
  }
  return d;
}

}  // namespace

void HandleListApprovals(const ApiContext& ctx, const std::shared_ptr<Call>& call) {
  const QueryParams& q = call->request().query;
  store::ApprovalFilter filter;
  auto status = StatusParam(q, kApprovalStatuses);
  if (!status.ok()) return ReplyError(call, ToApiError(status.error()));
  filter.status = *status;
  if (auto v = q.Get("tenant")) filter.tenant = std::string(*v);
  if (auto v = q.Get("run_id")) filter.run_id = std::string(*v);
  if (auto v = q.Get("before")) filter.before_id = std::string(*v);
  auto limit = IntParam(q, "limit", kDefaultListLimit, 1, kMaxListLimit);
  if (!limit.ok()) return ReplyError(call, ToApiError(limit.error()));
  filter.limit = static_cast<int>(*limit);

  auto approvals = ctx.engine.ListApprovals(filter);
  if (!approvals.ok()) return ReplyError(call, ToApiError(approvals.error()));
  json::array arr;
  arr.reserve(approvals->size());
  for (const auto& a : *approvals) arr.push_back(model::ApprovalToJson(a));
  json::object o;
  o["approvals"] = std::move(arr);
  if (static_cast<int64_t>(approvals->size()) >= *limit && !approvals->empty()) {
    o["next"] = approvals->back().id;
  } else {
    o["next"] = nullptr;
  }
  call->Reply(JsonResponse(200, json::serialize(o)));
}

void HandleGetApproval(const ApiContext& ctx, const std::shared_ptr<Call>& call) {
  const std::string& id = call->request().match.Param("id");
  auto approval = ctx.engine.GetApproval(id);
  if (!approval.ok()) return ReplyError(call, ToApiError(approval.error()));
  auto audit = ctx.engine.ApprovalAudit(id);
  if (!audit.ok()) return ReplyError(call, ToApiError(audit.error()));
  json::object o = model::ApprovalToJson(*approval);
  json::array events;
  events.reserve(audit->size());
  for (const auto& e : *audit) events.push_back(model::ApprovalEventToJson(e));
  o["audit"] = std::move(events);
  call->Reply(JsonResponse(200, json::serialize(o)));
}

void HandleDecideApproval(const ApiContext& ctx, const std::shared_ptr<Call>& call) {
  const Request& req = call->request();
  auto body = ParseBody(ctx, req.body);
  if (!body.ok()) return ReplyError(call, InvalidJson(body.error().message));
  if (!body->is_object()) {
    return ReplyError(call, InvalidJson("body: must be a JSON object {\"decision\": "
                                        "\"approved\"|\"denied\", \"by\": name, \"reason\"?}"));
  }
  auto decision = DecisionFromJson(body->get_object(), req.match.Param("id"));
  if (!decision.ok()) return ReplyError(call, ToApiError(decision.error()));
  // now_ms stays 0: the engine stamps the decision with its own clock.
  ctx.engine.DecideApproval(std::move(decision).value(), [call](Result<store::ApprovalOutcome> r) {
    Guarded(call, "decide_approval", [&] {
      if (!r.ok()) return ReplyError(call, ToApiError(r.error()));
      json::object o = model::ApprovalToJson(r->approval);
      o["existing"] = r->existing;
      Response resp = JsonResponse(200, json::serialize(o));
      if (r->existing) {
        resp.headers.emplace_back("Keel-Idempotent-Replay", "true");
      }
      call->Reply(std::move(resp));
    });
  });
}

void HandleListOutbox(const ApiContext& ctx, const std::shared_ptr<Call>& call) {
  const QueryParams& q = call->request().query;
  store::OutboxFilter filter;
  auto status = StatusParam(q, kOutboxStatuses);
  if (!status.ok()) return ReplyError(call, ToApiError(status.error()));
  filter.status = *status;
  if (auto v = q.Get("run_id")) filter.run_id = std::string(*v);
  if (auto v = q.Get("tenant")) filter.tenant = std::string(*v);
  if (auto v = q.Get("after")) filter.after_key = std::string(*v);
  auto limit = IntParam(q, "limit", kDefaultListLimit, 1, kMaxListLimit);
  if (!limit.ok()) return ReplyError(call, ToApiError(limit.error()));
  filter.limit = static_cast<int>(*limit);

  auto intents = ctx.engine.ListOutbox(filter);
  if (!intents.ok()) return ReplyError(call, ToApiError(intents.error()));
  json::array arr;
  arr.reserve(intents->size());
  for (const auto& i : *intents) arr.push_back(model::OutboxToJson(i));
  json::object o;
  o["intents"] = std::move(arr);
  if (static_cast<int64_t>(intents->size()) >= *limit && !intents->empty()) {
    o["next"] = intents->back().key;
  } else {
    o["next"] = nullptr;
  }
  call->Reply(JsonResponse(200, json::serialize(o)));
}

}  // namespace keel::api
