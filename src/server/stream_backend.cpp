// StreamBackend (stream_backend.h).
#include "server/stream_backend.h"

#include <cstdio>
#include <random>
#include <string_view>

#include "base/error.h"

namespace qg::server {

StreamBackend::StreamBackend(const StreamBackendConfig& cfg) {
  model_ = model::Qwen3Model::load(cfg.model_dir);
  if (!model_->config().is_stream())
    fail(cfg.model_dir.string(), ": config.json: architectures is ", model_->config().architecture,
         "; the Stream backend needs a Qwen3ForGuardModel checkpoint");
  tok_ = tok::Tokenizer::from_model_dir(cfg.model_dir);
  tpl_ = chat::ChatTemplate::from_model_dir(cfg.model_dir, cfg.chat_template);
  engine_ = std::make_unique<runtime::Engine>(*model_, cfg.engine);
  mod_ = std::make_unique<guard::StreamModerator>(*engine_, *tok_, *tpl_, cfg.stream);
}

// Sessions first (they hold engine sequences), then the engine, then the model.
StreamBackend::~StreamBackend() {
  mod_.reset();
  engine_.reset();
}

BackendStats StreamBackend::stats() const {
  const runtime::EngineStats e = engine_->stats();
  const guard::StreamStats st = mod_->stats();
  BackendStats s;
  s.running = e.running;
  s.waiting = e.waiting;  // parked sessions wait for their client, not for the model
  s.kv_blocks_total = e.kv_blocks_total;
  s.kv_blocks_used = e.kv_blocks_used;
  s.kv_blocks_cached = e.kv_blocks_cached;
  s.tokens_prefilled = e.tokens_prefilled;
  s.tokens_decoded = e.tokens_decoded;
  s.prefix_hit_tokens = e.prefix_hit_tokens;
  s.steps = e.steps;
  s.preemptions = e.preemptions;
  s.last_progress_age_s = e.last_progress_age_s;
  s.stream = true;
  s.sessions_open = st.open;
  s.sessions_opened = st.opened;
  s.sessions_closed = st.closed;
  s.sessions_evicted = st.evicted;
  s.sessions_failed = st.failed;
  s.stream_tokens_scored = st.tokens_scored;
  return s;
}

int64_t StreamBackend::vocab_size() const { return model_->config().vocab_size; }

std::string StreamBackend::name(guard::StreamModerator::Id id) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  char secret[17];
  std::snprintf(secret, sizeof secret, "%016llx", static_cast<unsigned long long>(rng()));
  std::lock_guard<std::mutex> l(mu_);
  // An entry of a session the moderator evicted (TTL) stays until its id is next
  // used (SessionGone: forget()); a few dozen bytes per such session.
  secrets_[id] = secret;
  return cat("strm-", id, "-", secret);
}

guard::StreamModerator::Id StreamBackend::lookup(const std::string& wire_id) const {
  auto gone = [&] { return guard::SessionGone(cat("no stream session '", wire_id.substr(0, 64), "'")); };
  std::string_view s = wire_id;
  if (s.substr(0, 5) != "strm-") throw gone();
  s.remove_prefix(5);
  const size_t dash = s.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash > 19) throw gone();
  guard::StreamModerator::Id id = 0;
  for (char c : s.substr(0, dash)) {
    if (c < '0' || c > '9') throw gone();
    id = id * 10 + static_cast<uint64_t>(c - '0');
  }
  std::lock_guard<std::mutex> l(mu_);
  const auto it = secrets_.find(id);
  if (it == secrets_.end() || it->second != s.substr(dash + 1)) throw gone();
  return id;
}

void StreamBackend::forget(const std::string& wire_id) {
  try {
    const auto id = lookup(wire_id);
    std::lock_guard<std::mutex> l(mu_);
    secrets_.erase(id);
  } catch (const guard::SessionGone&) {
  }
}

}  // namespace qg::server
