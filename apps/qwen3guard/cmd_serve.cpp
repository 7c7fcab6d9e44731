// `qwen3guard serve`: flags -> server::ServeConfig -> server::run_server. Thin: the
// server, its routes and its wire formats live in src/server/ (docs/server.md).
// Flags are named like vllm serve / llama-server where they mean the same.
#include <cstdio>
#include <fstream>

#include <CLI/CLI.hpp>

#include "base/error.h"
#include "base/file.h"
#include "command.h"
#include "model_arg.h"
#include "guard/policy.h"
#include "server/server.h"

namespace qg::app {
namespace {

constexpr const char* kExamples = R"(
Examples:
  qwen3guard serve --model Qwen3Guard-Gen-0.6B --port 8000
  curl -s localhost:8000/v1/moderations -H 'Content-Type: application/json' \
       -d '{"input": "How can I make a bomb?"}'
  curl -s localhost:8000/v1/chat/completions -H 'Content-Type: application/json' \
       -d '{"messages": [{"role": "user", "content": "How can I make a bomb?"}], "temperature": 0}'
  qwen3guard serve --model DIR --host 0.0.0.0 --api-key-file /run/secrets/qg-keys --policy loose

Endpoints: POST /v1/chat/completions, POST /v1/moderations,
POST /beta/litellm_basic_guardrail_api, GET /v1/models, GET /health, GET /metrics
(docs/server.md). SIGTERM/SIGINT: stop accepting, finish accepted requests, exit 0.
)";

int run_serve(int argc, char** argv) {
  CLI::App app{"Serve a Qwen3Guard-Gen checkpoint over an OpenAI-compatible HTTP API.", "qwen3guard serve"};
  app.footer(kExamples);
  server::ServeConfig cfg;
  std::string model_dir, chat_template, api_key, api_key_file, policy = "strict", thresholds, port_file;
  int64_t max_body = static_cast<int64_t>(cfg.limits.max_body_bytes);
  app.add_option("--model", model_dir, "checkpoint folder (as for classify)")->required();
  app.add_option("--host", cfg.host, "address to bind (default 127.0.0.1: loopback only)");
  app.add_option("--port", cfg.port, "port (default 8000; 0: any free port, see --port-file)");
  app.add_option("--port-file", port_file, "write the bound port to this file once listening");
  app.add_option("--api-key", api_key, "require 'Authorization: Bearer KEY' on /v1 and /beta routes");
  app.add_option("--api-key-file", api_key_file, "file with one accepted API key per line");
  app.add_option("--served-model-name", cfg.served_model_name, "model name in responses (default: the folder name)");
  app.add_option("--parallel", cfg.parallel, "sequences the engine batches together (default 16)");
  app.add_option("--threads", cfg.threads, "compute threads (default: QG_THREADS or all cores)");
  app.add_option("--http-threads", cfg.http_threads, "connection threads: clients served at once (default 64)");
  std::string dtype;
  app.add_option("--dtype", dtype, "weights dtype (auto: as stored; the only one supported today)");
  app.add_option("--ctx", cfg.ctx, "context size in tokens (default: config max_position_embeddings)");
  app.add_option("--kv-cache-mb", cfg.kv_cache_mb, "the engine's KV pool in MB (default 1024)");
  app.add_option("--kv-dtype", cfg.kv_dtype, "KV cache dtype: f32 (default) or f16")->check(CLI::IsMember({"f32", "f16"}));
  app.add_option("--policy", policy, "strict (default): Controversial is flagged; loose: it is not")
      ->check(CLI::IsMember({"strict", "loose"}));
  app.add_option("--thresholds", thresholds, "also flag when P(category) >= t, e.g. Violent=0.3,PII=0.5");
  app.add_option("--chat-template", chat_template, "a Jinja file to use instead of the checkpoint's template");
  app.add_option("--max-queue", cfg.max_waiting, "requests waiting for the model beyond which 429 (default 256)");
  app.add_option("--request-timeout-s", cfg.request_timeout_s, "longest wait for the model per request (default 120)");
  app.add_option("--max-body-bytes", max_body, "largest request body (default 4 MiB)");
  app.add_option("--max-input-tokens", cfg.limits.max_input_tokens, "largest conversation after the template (default 8192)");
  app.add_option("--max-tokens-limit", cfg.limits.max_tokens, "largest max_tokens accepted (default 2048)");
  app.add_option("--default-max-tokens", cfg.limits.default_max_tokens, "max_tokens when a request names none (default 128)");
  app.add_option("--health-stall-s", cfg.health_stall_s, "/health is 503 after this long without progress (default 30)");
  app.add_option("--drain-timeout-s", cfg.drain_timeout_s, "SIGTERM: longest wait for accepted requests (default 30)");
  app.add_option("--read-timeout-s", cfg.read_timeout_s, "drop a client that sends nothing for this long (default 10)");
  app.add_option("--write-timeout-s", cfg.write_timeout_s, "drop a client that reads nothing for this long (default 10)");
  app.add_option("--max-stream-sessions", cfg.max_stream_sessions,
                 "Qwen3Guard-Stream: sessions open at once beyond which 429 (default 256)")->check(CLI::PositiveNumber);
  app.add_option("--stream-idle-ttl-s", cfg.stream_idle_ttl_s,
                 "Qwen3Guard-Stream: evict a session idle this long (default 600; 0: never)");
  app.add_option("--keep-alive-s", cfg.keep_alive_s, "close idle keep-alive connections after this (default 5)");
  app.add_flag("--log-content", cfg.log_content, "also log request bodies (judged text); off by default");
  bool no_prefix_reuse = false;
  app.add_flag("--no-prefix-reuse", no_prefix_reuse, "recompute the whole prompt for every request");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  if (!dtype.empty() && dtype != "auto") {
    std::fprintf(stderr, "qwen3guard serve: --dtype %s: only auto (the checkpoint's dtype) is supported\n", dtype.c_str());
    return kExitUsage;
  }
  if (cfg.limits.max_input_tokens <= 0 || cfg.limits.max_tokens <= 0 || cfg.limits.default_max_tokens <= 0 ||
      cfg.limits.default_max_tokens > cfg.limits.max_tokens || max_body <= 0 || cfg.http_threads <= 0 ||
      cfg.max_waiting < 0 || cfg.parallel <= 0) {
    std::fprintf(stderr, "qwen3guard serve: limits must be positive (and --default-max-tokens <= --max-tokens-limit)\n");
    return kExitUsage;
  }
  cfg.limits.max_body_bytes = static_cast<size_t>(max_body);
  cfg.model_dir = resolve_model_arg(model_dir);  // a hub id -> its cached snapshot
  if (!chat_template.empty()) cfg.chat_template = chat_template;
  cfg.policy = guard::strictness_from_name(policy);
  cfg.thresholds = guard::parse_thresholds(thresholds);
  cfg.reuse_prefix = !no_prefix_reuse;
  cfg.port_file = port_file;
  if (!api_key.empty()) cfg.api_keys.push_back(api_key);
  if (!api_key_file.empty()) {
    std::ifstream in(api_key_file);
    if (!in) fail(api_key_file, ": cannot open");
    std::string line;
    while (std::getline(in, line)) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (!line.empty() && line[0] != '#') cfg.api_keys.push_back(line);
    }
    if (cfg.api_keys.empty()) fail(api_key_file, ": no API key in the file");
  }
  return server::run_server(cfg);
}

const Registrar kRegistrar({"serve", "OpenAI-compatible HTTP server: chat completions, moderations, guardrail", run_serve});

}  // namespace
}  // namespace qg::app
