// Shared setup of the Stream session tests: the tiny Stream fixture of tests/model
// (random weights, the real Qwen3 tokenizer and chat template) on an engine.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>

#include "chat/chat_template.h"
#include "guard/stream_session.h"
#include "model/qwen3.h"
#include "runtime/engine.h"
#include "tokenizer/tokenizer.h"

namespace qg::guard::streamtest {

inline std::filesystem::path stream_fixture(const char* name = "stream_tiny_preset") {
  return std::filesystem::path(QG_MODEL_FIXTURES) / name;
}

struct StreamStack {
  std::unique_ptr<model::Qwen3Model> model;
  std::unique_ptr<tok::Tokenizer> tok;
  std::unique_ptr<chat::ChatTemplate> tpl;
  std::unique_ptr<runtime::Engine> engine;

  explicit StreamStack(const std::string& isa = "scalar", const char* name = "stream_tiny_preset", int threads = 2,
                       int64_t kv_blocks = 0) {
    const auto dir = stream_fixture(name) / "model";
    model = model::Qwen3Model::load(dir);
    if (std::filesystem::exists(dir / "tokenizer.json")) {
      tok = tok::Tokenizer::from_model_dir(dir);
      tpl = chat::ChatTemplate::from_model_dir(dir);
    }
    runtime::EngineConfig cfg;
    cfg.threads = threads;
    cfg.isa = isa;
    cfg.kv_blocks = kv_blocks;
    engine = std::make_unique<runtime::Engine>(*model, cfg);
  }

  // Waits until the engine has processed the cancellations (blocks released).
  void wait_idle() {
    for (int i = 0; i < 400; ++i) {
      const auto st = engine->stats();
      if (st.kv_blocks_used == 0 && st.running == 0 && st.parked == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
};

inline bool skip_without_fixture() { return !std::filesystem::exists(stream_fixture() / "model" / "config.json"); }

}  // namespace qg::guard::streamtest
