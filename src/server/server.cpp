// run_server (server.h) and what the routes share (context.h): readiness, the API-key
// check, the access log, the startup sequence and graceful shutdown.
//
// Startup: bind first and answer /health with 503 while the model loads (a startup
// probe sees the process alive but not ready), then run one canary moderation, then
// turn ready. Shutdown: SIGTERM/SIGINT are taken by a dedicated thread (sigwait, no
// async handler): /health turns 503, the listener closes, accepted requests finish,
// and the process exits 0; if they take longer than --drain-timeout-s it exits 1.
#include "server/server.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/file.h"
#include "server/context.h"
#include "weights/config.h"

namespace qg::server {

GenerationDefaults load_generation_defaults(const std::filesystem::path& model_dir) {
  GenerationDefaults d;
  const auto path = model_dir / "generation_config.json";
  if (!std::filesystem::exists(path)) return d;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path.string()));
  } catch (const nlohmann::json::exception& e) {
    fail(path.string(), ": invalid JSON: ", e.what());
  }
  if (!j.is_object()) fail(path.string(), ": not a JSON object");
  auto num = [&](const char* key, double lo, double hi, double def) {
    if (!j.contains(key) || j[key].is_null()) return def;
    if (!j[key].is_number() || j[key].get<double>() < lo || j[key].get<double>() > hi)
      fail(path.string(), ": /", key, " must be a number in ", lo, "..", hi);
    return j[key].get<double>();
  };
  d.temperature = num("temperature", 0, 100, d.temperature);
  d.top_p = num("top_p", 1e-9, 1, d.top_p);
  d.top_k = static_cast<int>(num("top_k", -1, 1e7, d.top_k));
  return d;
}

HttpResponse json_response(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse error_response(const ApiError& e) { return json_response(e.status, error_body(e)); }

std::string random_id(const char* prefix) {
  thread_local std::mt19937_64 rng(std::random_device{}() ^ std::hash<std::thread::id>{}(std::this_thread::get_id()));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx%08llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng() & 0xffffffffull));
  return std::string(prefix) + buf;
}

std::optional<ApiError> ServerContext::check_model(const std::optional<std::string>& model) const {
  if (!model || *model == model_name) return std::nullopt;
  return ApiError{404, cat("The model '", model->substr(0, 200), "' does not exist; this server serves '", model_name, "'"),
                  "invalid_request_error", std::string("model"), std::string("model_not_found")};
}

std::optional<ApiError> ServerContext::check_ready() const {
  if (!ready) return ApiError{503, "the model is not ready: " + not_ready_reason, "server_error", {}, std::string("not_ready")};
  return std::nullopt;
}

std::optional<ApiError> ServerContext::check_gen() const {
  if (auto e = check_ready()) return e;
  if (stream)
    return ApiError{400, "this server runs a Qwen3Guard-Stream model, which does not generate: use /v1/moderations or "
                         "/v1/stream/sessions", "invalid_request_error", {}, std::string("not_a_gen_model")};
  return std::nullopt;
}

void ServerContext::log(const HttpRequest& req, int status, int64_t tokens, double ms, const std::string& extra) {
  char when[32];
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::lock_guard<std::mutex> l(log_mu);
  std::fprintf(stderr, "%s %s %s %s %d tokens=%lld ms=%.1f%s%s", when, req.remote.c_str(), req.method.c_str(),
               req.path.c_str(), status, static_cast<long long>(tokens), ms, extra.empty() ? "" : " ", extra.c_str());
  if (cfg.log_content && !req.body.empty()) std::fprintf(stderr, " body=%.2000s", req.body.c_str());
  std::fprintf(stderr, "\n");
}

namespace {

// Constant-time in the secret: the loop runs over the candidate's length (which the
// client already knows), every byte is compared, and the lengths enter the result.
bool same_key(std::string_view candidate, std::string_view key) {
  volatile unsigned char diff = candidate.size() != key.size();
  for (size_t i = 0; i < candidate.size(); ++i)
    diff = diff | static_cast<unsigned char>(candidate[i] ^ (key.empty() ? 0 : key[i % key.size()]));
  return diff == 0;
}

bool authorized(const ServerContext& ctx, const HttpRequest& req) {
  if (ctx.cfg.api_keys.empty()) return true;
  std::string candidate;
  const std::string auth = req.header("Authorization");
  if (auth.size() > 7 && (auth.compare(0, 7, "Bearer ") == 0 || auth.compare(0, 7, "bearer ") == 0)) {
    candidate = auth.substr(7);
  } else {
    candidate = req.header("x-api-key");  // LiteLLM's guardrail callers send this header
  }
  bool ok = false;
  for (const auto& k : ctx.cfg.api_keys) ok = same_key(candidate, k) | ok;  // no early exit
  return ok && !candidate.empty();
}

}  // namespace

void Router::add(const std::string& method, const std::string& path, const std::string& name, bool needs_auth,
                 HttpHandler handler) {
  ServerContext& ctx = ctx_;
  http_.route(method, path, [&ctx, name, needs_auth, handler](const HttpRequest& req) {
    const auto t0 = std::chrono::steady_clock::now();
    HttpResponse res;
    if (needs_auth && !authorized(ctx, req)) {
      res = error_response(ApiError{401, "Incorrect API key provided (send Authorization: Bearer <key>)",
                                    "invalid_request_error", {}, std::string("invalid_api_key")});
    } else {
      try {
        res = handler(req);
      } catch (const Error& e) {
        res = error_response(bad_request(e.what()));
      } catch (const std::exception& e) {
        res = error_response(ApiError{500, cat("internal error: ", e.what()), "server_error", {}, {}});
      }
    }
    // Draining: serve what was accepted, but tell keep-alive clients to reconnect
    // (to another replica).
    if (ctx.draining) res.headers.emplace_back("Connection", "close");
    if (!res.stream) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      ctx.metrics.request(name, res.status, s);
      if (name != "health" && name != "metrics") ctx.log(req, res.status, res.log_tokens, s * 1e3);
    }
    return res;
  });
}

int run_server(const ServeConfig& cfg) {
  // Signals: blocked here, before any thread starts, so every thread inherits the
  // mask and only the sigwait thread below ever sees them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client that vanishes mid-write is a failed write, not a dead server

  ServerContext ctx;
  ctx.cfg = cfg;
  ctx.model_name = cfg.served_model_name.empty() ? std::filesystem::absolute(cfg.model_dir).filename().string()
                                                 : cfg.served_model_name;
  if (ctx.model_name.empty()) ctx.model_name = "qwen3guard";
  ctx.created = static_cast<int64_t>(std::time(nullptr));
  ctx.gen = load_generation_defaults(cfg.model_dir);

  HttpConfig hc;
  hc.host = cfg.host;
  hc.port = cfg.port;
  hc.threads = cfg.http_threads;
  hc.read_timeout_s = cfg.read_timeout_s;
  hc.write_timeout_s = cfg.write_timeout_s;
  hc.keep_alive_timeout_s = cfg.keep_alive_s;
  hc.max_body_bytes = cfg.limits.max_body_bytes;
  HttpServer http(hc);
  Router router(http, ctx);
  add_chat_routes(router, ctx);
  add_moderation_routes(router, ctx);
  add_guardrail_routes(router, ctx);
  add_misc_routes(router, ctx);
  add_stream_routes(router, ctx);
  http.set_error_handler([&ctx](const HttpRequest& req, HttpResponse& res) {
    ApiError e{res.status, "", "invalid_request_error", {}, {}};
    if (res.status == 404) e.message = "no route " + req.method + " " + req.path.substr(0, 200), e.code = "not_found";
    else if (res.status == 413) e.message = cat("request body exceeds the limit of ", ctx.cfg.limits.max_body_bytes, " bytes"), e.code = "request_too_large";
    else if (res.status == 405) e.message = "method not allowed";
    else e.message = cat("HTTP error ", res.status, ": malformed request, or its body did not arrive within the read timeout");
    res = error_response(e);
    ctx.metrics.request("other", e.status, 0);
    ctx.log(req, e.status, 0, 0);
  });

  const int port = http.bind();
  std::fprintf(stderr, "qwen3guard serve: listening on http://%s:%d (model %s loading)\n", cfg.host.c_str(), port,
               ctx.model_name.c_str());
  if (!cfg.port_file.empty()) {
    std::ofstream(cfg.port_file + ".tmp") << port << "\n";
    std::filesystem::rename(cfg.port_file + ".tmp", cfg.port_file);
  }
  std::thread serving([&] { http.serve(); });

  std::thread signals([&] {
    int sig = 0;
    sigwait(&set, &sig);
    std::fprintf(stderr, "qwen3guard serve: %s: draining (finishing accepted requests, at most %.0f s)\n",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT", cfg.drain_timeout_s);
    ctx.draining = true;
    http.stop();
    std::thread([&cfg] {
      std::this_thread::sleep_for(std::chrono::duration<double>(cfg.drain_timeout_s));
      std::fprintf(stderr, "qwen3guard serve: drain timeout: exiting with requests unfinished\n");
      std::_Exit(1);
    }).detach();
  });

  int status = 0;
  try {
    BackendConfig bc;
    bc.classifier.model_dir = cfg.model_dir;
    bc.classifier.chat_template = cfg.chat_template;
    bc.classifier.threads = cfg.threads;
    bc.classifier.ctx = cfg.ctx;
    bc.classifier.reuse_prefix = cfg.reuse_prefix;
    bc.classifier.parallel = cfg.parallel;
    bc.classifier.kv_cache_mb = cfg.kv_cache_mb;
    bc.classifier.kv_dtype = guard::kv_dtype_from_name(cfg.kv_dtype);
    bc.max_waiting = cfg.max_waiting;
    bc.queue_timeout_s = cfg.request_timeout_s;
    const auto t0 = std::chrono::steady_clock::now();
    if (weights::Qwen3Config::load(cfg.model_dir).is_stream()) {
      // Qwen3Guard-Stream: sessions on the engine instead of the Gen classifier.
      StreamBackendConfig sc;
      sc.model_dir = cfg.model_dir;
      sc.chat_template = cfg.chat_template;
      sc.engine.threads = cfg.threads;
      sc.engine.max_running = cfg.parallel;
      sc.engine.kv_cache_mb = cfg.kv_cache_mb;
      sc.engine.kv_dtype = guard::kv_dtype_from_name(cfg.kv_dtype);
      sc.stream.max_sessions = cfg.max_stream_sessions;
      sc.stream.idle_ttl_s = cfg.stream_idle_ttl_s;
      ctx.stream = std::make_unique<StreamBackend>(sc);
      ctx.not_ready_reason = "running the canary session";
      auto& mod = ctx.stream->moderator();
      const auto opened = mod.open({{"user", "Hello, how are you?"}});
      const auto r = mod.append_text(opened.id, "I am fine.");
      mod.close(opened.id);
      if (r.tokens.empty()) fail("canary stream session scored no tokens");
      ctx.ready = true;
      std::fprintf(stderr, "qwen3guard serve: ready in %.1f s (Qwen3Guard-Stream, ctx %lld, canary prompt: %s)\n",
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                   static_cast<long long>(ctx.stream->ctx()), guard::stream_risk_name(opened.prompt.query.risk));
      serving.join();
      signals.join();
      ctx.stream.reset();
      std::fprintf(stderr, "qwen3guard serve: stopped cleanly\n");
      return 0;
    }
    ctx.backend = Backend::load(bc);
    ctx.not_ready_reason = "running the canary moderation";
    // Canary: one real moderation through the same path requests take.
    auto ticket = ctx.backend->admit();
    guard::ClassifyOptions opt;
    const guard::Result r = ctx.backend->run(ticket, guard::prompt_conversation("Hello, how are you?"), opt, nullptr, nullptr);
    if (r.generated_tokens <= 0) fail("canary moderation produced no output");
    ctx.ready = true;
    std::fprintf(stderr, "qwen3guard serve: ready in %.1f s (ctx %lld, canary: %s)\n",
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                 static_cast<long long>(ctx.backend->ctx()),
                 r.verdict.safety ? std::string(guard::safety_name(*r.verdict.safety)).c_str() : "unparsable");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qwen3guard serve: error: %s\n", e.what());
    ctx.not_ready_reason = std::string("failed: ") + e.what();
    status = 1;
    pthread_kill(signals.native_handle(), SIGTERM);
  }
  serving.join();
  signals.join();
  if (status == 0) std::fprintf(stderr, "qwen3guard serve: stopped cleanly\n");
  return status;
}

}  // namespace qg::server
