// Handlers of the process routes: /healthz, /readyz, /metrics, /v1/status.

#include <boost/json.hpp>

#include "api/handlers.h"

namespace keel::api {

void HandleHealthz(const ApiContext&, const std::shared_ptr<Call>& call) {
  call->Reply(JsonResponse(200, R"({"status":"ok"})"));
}

void HandleReadyz(const ApiContext& ctx, const std::shared_ptr<Call>& call) {
  // The engine may start draining before the composition root tells the server.
  if (ctx.draining() || ctx.engine.State().draining) {
    Response r = JsonResponse(503, R"({"status":"draining"})");
    r.headers.emplace_back("Retry-After", "5");
    r.log_code = "draining";
    r.log_message = "readiness probe while draining";
    call->Reply(std::move(r));
    return;
  }
  call->Reply(JsonResponse(200, R"({"status":"ready"})"));
}

void HandleMetrics(const ApiContext& ctx, const std::shared_ptr<Call>& call) {
  Response r;
  r.status = 200;
  r.content_type = "text/plain; version=0.0.4";
  r.body = ctx.metrics_text();
  call->Reply(std::move(r));
}

void HandleStatus(const ApiContext& ctx, const std::shared_ptr<Call>& call) {
  engine::EngineState s = ctx.engine.State();
  boost::json::array intents;
  for (const auto& i : s.intents) intents.push_back(boost::json::string(i));
  boost::json::object o;
  o["engine"] = {{"draining", s.draining || ctx.draining()},
                 {"active_runs", s.active_runs},
                 {"queued_runs", s.queued_runs},
                 {"intents", std::move(intents)}};
  boost::json::object gw = ctx.engine.GatewayStatus();
  if (!gw.contains("breakers")) gw["breakers"] = boost::json::array();
  o["gateway"] = std::move(gw);
  call->Reply(JsonResponse(200, boost::json::serialize(o)));
}

}  // namespace keel::api
