// What every route shares: the configuration, the backend (null while loading), the
// metrics, the generation defaults and the readiness state. Internal to server/.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "server/api_error.h"
#include "server/backend.h"
#include "server/http.h"
#include "server/metrics.h"
#include "server/server.h"
#include "server/stream_backend.h"

namespace qg::server {

// Sampling defaults read from the checkpoint's generation_config.json, as vLLM reads
// them (temperature, top_p, top_k; do_sample is not consulted, as in vLLM); absent
// keys fall back to OpenAI's defaults (temperature 1, top_p 1, no top_k).
struct GenerationDefaults {
  double temperature = 1;
  double top_p = 1;
  int top_k = 0;
};
GenerationDefaults load_generation_defaults(const std::filesystem::path& model_dir);

struct ServerContext {
  ServeConfig cfg;
  std::string model_name;
  int64_t created = 0;  // unix seconds at start (the models list's "created")
  GenerationDefaults gen;
  Metrics metrics;
  std::unique_ptr<Backend> backend;  // set once loaded, before `ready` (Gen checkpoints)
  std::unique_ptr<StreamBackend> stream;  // instead of `backend` for a Qwen3Guard-Stream checkpoint
  std::atomic<bool> ready{false};
  std::atomic<bool> draining{false};
  std::string not_ready_reason = "loading the model";
  std::mutex log_mu;

  // 404 model_not_found unless absent or the served name.
  std::optional<ApiError> check_model(const std::optional<std::string>& model) const;
  // 503 while loading (accepted requests are served while draining).
  std::optional<ApiError> check_ready() const;
  // check_ready, then 400 when the server runs a Stream checkpoint (Gen-only routes).
  std::optional<ApiError> check_gen() const;
  // The loaded backend's numbers (Gen or Stream); only once ready.
  BackendStats stats() const { return stream ? stream->stats() : backend->stats(); }
  int64_t model_ctx() const { return stream ? stream->ctx() : backend->ctx(); }
  // One access-log line on stderr.
  void log(const HttpRequest& req, int status, int64_t tokens, double ms, const std::string& extra = "");
};

HttpResponse json_response(int status, std::string body);
HttpResponse error_response(const ApiError& e);
// Random hex id suffix ("chatcmpl-<24 hex>").
std::string random_id(const char* prefix);

// Registers routes on the HTTP server with what every route needs around it: the API
// key check, errors escaping the handler turned into the OpenAI envelope (qg::Error:
// 400, anything else: 500), the access-log line and the request metrics (streamed
// responses log and count themselves when the stream ends).
class Router {
 public:
  Router(HttpServer& http, ServerContext& ctx) : http_(http), ctx_(ctx) {}
  // name: the metrics' route label; needs_auth: false for /health and /metrics.
  void add(const std::string& method, const std::string& path, const std::string& name, bool needs_auth,
           HttpHandler handler);

 private:
  HttpServer& http_;
  ServerContext& ctx_;
};

// Route families (routes_*.cpp).
void add_chat_routes(Router& r, ServerContext& ctx);
void add_moderation_routes(Router& r, ServerContext& ctx);
void add_guardrail_routes(Router& r, ServerContext& ctx);
void add_misc_routes(Router& r, ServerContext& ctx);
void add_stream_routes(Router& r, ServerContext& ctx);

}  // namespace qg::server
