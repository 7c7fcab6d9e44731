// GET /v1/models, GET /health, GET /metrics.
//
// /health is what load balancers and Kubernetes probes read: 200 {"status": "ok"} only
// once the model is loaded and the canary moderation succeeded; 503 while loading,
// while draining after SIGTERM (so the balancer stops sending), and when the model has
// made no progress for --health-stall-s seconds while work is pending (a wedged engine
// must not look healthy).
#include <nlohmann/json.hpp>

#include "server/context.h"

namespace qg::server {
namespace {

using nlohmann::ordered_json;

HttpResponse handle_models(ServerContext& ctx) {
  ordered_json m{{"id", ctx.model_name}, {"object", "model"}, {"created", ctx.created}, {"owned_by", "qwen3guard.cpp"}};
  if (ctx.ready) m["max_model_len"] = ctx.model_ctx();
  return json_response(200, ordered_json{{"object", "list"}, {"data", ordered_json::array({m})}}.dump());
}

HttpResponse handle_health(ServerContext& ctx) {
  auto unhealthy = [](const std::string& why) {
    return json_response(503, ordered_json{{"status", "unavailable"}, {"reason", why}}.dump());
  };
  if (ctx.draining) return unhealthy("draining: shutting down");
  if (!ctx.ready) return unhealthy(ctx.not_ready_reason);
  const BackendStats s = ctx.stats();
  if ((s.running > 0 || s.waiting > 0) && s.last_progress_age_s > ctx.cfg.health_stall_s)  // a wedged engine
    return unhealthy("stalled: no progress for " + std::to_string(static_cast<int64_t>(s.last_progress_age_s)) +
                     " s with " + std::to_string(s.running + s.waiting) + " requests pending");
  return json_response(200, ordered_json{{"status", "ok"}, {"running", s.running}, {"waiting", s.waiting}}.dump());
}

HttpResponse handle_metrics(ServerContext& ctx) {
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4";
  const bool ready = ctx.ready;  // the backend pointer is only read once ready is set
  BackendStats s;
  if (ready) s = ctx.stats();
  r.body = ctx.metrics.render(ready ? &s : nullptr, ready);
  return r;
}

}  // namespace

void add_misc_routes(Router& r, ServerContext& ctx) {
  r.add("GET", "/v1/models", "models", true, [&ctx](const HttpRequest&) { return handle_models(ctx); });
  r.add("GET", "/health", "health", false, [&ctx](const HttpRequest&) { return handle_health(ctx); });
  r.add("GET", "/metrics", "metrics", false, [&ctx](const HttpRequest&) { return handle_metrics(ctx); });
}

}  // namespace qg::server
