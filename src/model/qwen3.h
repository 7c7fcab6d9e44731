// CONTRACT HEADER (written first so guard/ can code against it; the model work fills
// in the implementation and may add to it, but must keep these signatures).
//
// model/: the Qwen3 forward pass as plain functions over explicit state. Pure
// computation: (weights, tokens, KV cache) -> logits. No threads of its own (the
// kernels::Context carries them), no text, no file formats (weights/ reads those).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include "kernels/kernels.h"
#include "model/config.h"
#include "model/forward.h"
#include "weights/mapped_file.h"

namespace qg::model {

class Qwen3Weights;  // typed views into the mapped checkpoint (model/qwen3_weights.h)
struct StreamHeadWeights;  // Qwen3Guard-Stream heads (model/stream_heads.h)

// Single-sequence attention cache for the one-sequence API below (the CLI's
// logits/generate, the model tests, the Classifier until it moves to the engine).
// It is a paged KvStorage with an identity block table: block i holds positions
// i*16 .. i*16+15, so the same batched model::forward runs it. It also owns that
// sequence's ForwardScratch, which keeps Qwen3Model itself free of mutable state.
//
// Storage is calloc'd, not value-initialised: the kernel hands out zero pages lazily, so
// a cache sized for a long context costs memory only for the positions actually written
// (peak RSS grows with the tokens seen, not with n_ctx).
class KvCache {
 public:
  KvCache(const Qwen3Config& cfg, int64_t n_ctx);  // [layers, ceil(n_ctx/16), 16, kv_heads, head_dim] K and V
  ~KvCache();
  KvCache(KvCache&&) noexcept;
  KvCache& operator=(KvCache&&) noexcept;
  int64_t n_past() const { return n_past_; }       // tokens already in the cache
  int64_t n_ctx() const { return n_ctx_; }
  void truncate(int64_t n);                        // forget positions >= n (n <= n_past)
  void clear() { truncate(0); }
  size_t bytes() const;

 private:
  static constexpr int64_t kBlockTokens = 16;
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  int64_t n_ctx_ = 0;
  int64_t n_past_ = 0;
  KvStorage storage_;
  std::unique_ptr<void, Free> k_, v_;   // the memory behind storage_.k / storage_.v
  std::vector<int32_t> blocks_;         // [n_blocks] identity block table 0, 1, 2, ...
  std::vector<int32_t> out_pos_;        // scratch for the out_positions of a call
  ForwardScratch scratch_;
  friend class Qwen3Model;
};

enum class Logits : uint8_t {
  kNone,  // only fill the cache (prefill of a prefix)
  kLast,  // logits of the last new token: out[n_vocab_out]
  kAll,   // logits of every new token: out[n_tokens, n_vocab_out]
};

class Qwen3Model {
 public:
  // Loads config.json + safetensors (single or sharded) from a checkpoint folder.
  // Throws qg::Error naming the file/tensor on any problem.
  // The weights are mmapped, or read into memory when QG_LOAD_MODE=read (weights::LoadMode).
  static std::unique_ptr<Qwen3Model> load(const std::filesystem::path& dir);
  static std::unique_ptr<Qwen3Model> load(const std::filesystem::path& dir, weights::LoadMode mode);
  ~Qwen3Model();

  const Qwen3Config& config() const;

  // Runs `tokens` at positions cache.n_past() .. n_past()+n-1, appends their K/V to
  // the cache and writes the requested logits to `out`.
  //   vocab_rows empty: full vocabulary, n_vocab_out = config().vocab_size
  //   vocab_rows given: only those rows of lm_head, n_vocab_out = vocab_rows.size()
  //     (the guard's grammar needs the logits of a handful of allowed tokens only)
  // Throws if the cache would overflow n_ctx or a token id is out of range.
  // Allocation-free after the first call with a given max n (scratch grows once).
  // A thin wrapper over model::forward (model/forward.h) with one sequence.
  void forward(const kernels::Context& ctx, std::span<const int32_t> tokens, KvCache& cache,
               Logits which, std::span<float> out, std::span<const int32_t> vocab_rows = {}) const;

  // Convenience: greedy decoding (argmax), stops at any id in `stop` or after max_new.
  // Returns the new tokens only; a stop token that ends generation is included.
  std::vector<int32_t> generate_greedy(const kernels::Context& ctx, std::span<const int32_t> prompt,
                                       KvCache& cache, int max_new, std::span<const int32_t> stop) const;

  // ---- Additions beyond the contract ----
  const Qwen3Weights& weights() const;
  // eos ids from generation_config.json (if present) and config.json.
  const std::vector<int32_t>& stop_token_ids() const;
  size_t checkpoint_bytes() const;  // sum of the mapped safetensors files
  // The Stream heads of a Qwen3ForGuardModel checkpoint (config().is_stream()); nullptr
  // for a Gen checkpoint.
  const StreamHeadWeights* stream_heads() const;
  // [head_dim/2] RoPE frequencies θ^(−2j/d), computed in double and rounded to f32 (as HF).
  const std::vector<float>& rope_inv_freq() const;
  // Makes a cache of n_ctx positions (default: max_position_embeddings).
  KvCache make_cache(int64_t n_ctx = 0) const;

 private:
  struct Impl;
  explicit Qwen3Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qg::model
