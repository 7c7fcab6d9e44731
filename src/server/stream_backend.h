// The Stream backend of `qwen3guard serve`: what the server runs instead of the Gen
// classifier when the checkpoint is a Qwen3Guard-Stream model (Qwen3ForGuardModel).
// It owns the model, the runtime::Engine, the tokenizer, the chat template and one
// guard::StreamModerator on them; the routes (routes_stream.cpp, the Stream branch
// of /v1/moderations) only call it.
//
// Session ids on the wire are "strm-<n>-<secret>": the moderator's number plus 16
// random hex digits, so a client cannot guess (and append to, or close) another
// client's session. The secret is checked here; the map entry goes when the session
// is closed or found gone.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "chat/chat_template.h"
#include "guard/stream_session.h"
#include "model/qwen3.h"
#include "runtime/engine.h"
#include "server/backend.h"
#include "tokenizer/tokenizer.h"

namespace qg::server {

struct StreamBackendConfig {
  std::filesystem::path model_dir;
  std::optional<std::filesystem::path> chat_template;
  runtime::EngineConfig engine;
  guard::StreamConfig stream;
};

class StreamBackend {
 public:
  explicit StreamBackend(const StreamBackendConfig& cfg);
  ~StreamBackend();

  // Registers the moderator's session under a fresh wire id.
  std::string name(guard::StreamModerator::Id id);
  // The moderator's id of a wire id; throws guard::SessionGone for an unknown or
  // forged one (never tells which).
  guard::StreamModerator::Id lookup(const std::string& wire_id) const;
  void forget(const std::string& wire_id);

  guard::StreamModerator& moderator() { return *mod_; }
  const guard::StreamLabels& labels() const { return mod_->labels(); }
  const tok::Tokenizer& tokenizer() const { return *tok_; }
  int64_t vocab_size() const;
  int64_t ctx() const { return engine_->max_sequence_tokens(); }
  runtime::EngineStats engine_stats() const { return engine_->stats(); }
  guard::StreamStats stream_stats() const { return mod_->stats(); }
  // The engine's and the sessions' numbers in the server's stats shape (metrics, health).
  BackendStats stats() const;

 private:
  std::unique_ptr<model::Qwen3Model> model_;
  std::unique_ptr<tok::Tokenizer> tok_;
  std::unique_ptr<chat::ChatTemplate> tpl_;
  std::unique_ptr<runtime::Engine> engine_;
  std::unique_ptr<guard::StreamModerator> mod_;
  mutable std::mutex mu_;
  std::unordered_map<guard::StreamModerator::Id, std::string> secrets_;
};

}  // namespace qg::server
