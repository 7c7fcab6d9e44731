// Range checks shared by the subcommands' flags (docs/STYLE.md, "Limits"). A value out of
// range is a usage error (exit 2) whose message states the allowed range, e.g.
//   --threads: Value -1 not in range 0 to 1024
// The bounds are the library's own (base/limits.h); the checks against the model (a --ctx
// above max_position_embeddings) happen where the model is known, with the same wording.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>

#include "base/error.h"
#include "base/limits.h"
#include "weights/config.h"

namespace qg::app {

// --threads: 0 means "QG_THREADS or all cores".
inline CLI::Range threads_range() { return CLI::Range(0, limits::kMaxThreads); }
// --ctx: 0 means "the model's max_position_embeddings".
inline CLI::Range ctx_range() { return CLI::Range(int64_t{0}, limits::kMaxPositions); }
// Counts of moderations, tokens, warm-up runs.
inline CLI::Range count_range(int64_t lo, int64_t hi) { return CLI::Range(lo, hi); }

// --ctx against the checkpoint: at most its max_position_embeddings (RoPE positions past
// it were never trained; the KV cache would be sized from it). Prints the usage error and
// returns false when out of range. Reads only config.json, before the model is loaded.
inline bool ctx_fits_model(const char* cmd, int64_t ctx, const std::string& model_dir) {
  if (ctx <= 0) return true;
  // A GGUF file carries its context in metadata: the model's own load-time check applies.
  if (!std::filesystem::is_directory(model_dir)) return true;
  const auto cfg = weights::Qwen3Config::load(model_dir);
  if (ctx <= cfg.max_position_embeddings) return true;
  std::fprintf(stderr, "%s: --ctx: Value %lld not in range 1 to %lld (the model's max_position_embeddings)\n", cmd,
               static_cast<long long>(ctx), static_cast<long long>(cfg.max_position_embeddings));
  return false;
}

}  // namespace qg::app
