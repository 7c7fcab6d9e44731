// `qwen3guard serve`: an OpenAI-compatible HTTP server for a Qwen3Guard-Gen checkpoint
// (docs/server.md). run_server() binds, answers /health with 503 while the model
// loads and a canary moderation runs, then serves until SIGTERM/SIGINT, after which it
// stops accepting, finishes the accepted requests (bounded by drain_timeout_s) and
// returns 0.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "guard/policy.h"
#include "server/request.h"

namespace qg::server {

struct ServeConfig {
  std::filesystem::path model_dir;
  std::optional<std::filesystem::path> chat_template;
  std::string host = "127.0.0.1";
  int port = 8000;
  std::vector<std::string> api_keys;      // empty: no authentication
  std::string served_model_name;          // default: the model folder's name
  int threads = 0;                        // compute threads
  int http_threads = 64;                  // connection threads
  int parallel = 16;                      // --parallel: sequences batched by the engine
  int64_t ctx = 0;
  int64_t kv_cache_mb = 0;                // engine KV pool (0: runtime::kDefaultKvCacheMb)
  std::string kv_dtype = "f32";           // --kv-dtype f32|f16
  guard::Strictness policy = guard::Strictness::kStrict;
  std::vector<std::pair<guard::Category, double>> thresholds;
  Limits limits;
  int64_t max_waiting = 256;              // --max-queue
  double request_timeout_s = 120;         // queue wait bound per request
  double health_stall_s = 30;             // /health 503 when no progress this long with work pending
  double drain_timeout_s = 30;            // SIGTERM: longest wait for accepted requests
  int read_timeout_s = 10, write_timeout_s = 10, keep_alive_s = 5;
  bool log_content = false;               // log judged text (off: never)
  bool reuse_prefix = true;
  int64_t max_stream_sessions = 256;      // --max-stream-sessions (Stream checkpoints)
  double stream_idle_ttl_s = 600;         // --stream-idle-ttl-s: idle sessions are evicted after this
  std::string port_file;                  // write the bound port here once listening (tests)
};

// Blocks until shutdown; returns the process exit status.
int run_server(const ServeConfig& cfg);

}  // namespace qg::server
