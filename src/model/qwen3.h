// CONTRACT HEADER (written first so guard/ can code against it; the model work fills
// in the implementation and may add to it, but must keep these signatures).
//
// model/: the Qwen3 forward pass as plain functions over explicit state. Pure
// computation: (weights, tokens, KV cache) -> logits. No threads of its own (the
// kernels::Context carries them), no text, no file formats (weights/ reads those).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include "kernels/kernels.h"
#include "model/config.h"

namespace qg::model {

class Qwen3Weights;  // typed views into the mapped checkpoint (model/qwen3_weights.h)

// Per-sequence attention cache. One per sequence; a batch of sequences is a batch of
// caches (so later work can batch sequences with their own positions).
class KvCache {
 public:
  KvCache(const Qwen3Config& cfg, int64_t n_ctx);  // allocates [layers, n_ctx, kv_heads, head_dim] K and V
  int64_t n_past() const { return n_past_; }       // tokens already in the cache
  int64_t n_ctx() const { return n_ctx_; }
  void truncate(int64_t n);                        // forget positions >= n (n <= n_past)
  void clear() { truncate(0); }
  // ... storage accessors for the forward pass

 private:
  int64_t n_ctx_ = 0;
  int64_t n_past_ = 0;
  std::vector<float> k_;  // [layers, n_ctx, kv_heads, head_dim]
  std::vector<float> v_;  // [layers, n_ctx, kv_heads, head_dim]
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
  static std::unique_ptr<Qwen3Model> load(const std::filesystem::path& dir);
  ~Qwen3Model();

  const Qwen3Config& config() const;

  // Runs `tokens` at positions cache.n_past() .. n_past()+n-1, appends their K/V to
  // the cache and writes the requested logits to `out`.
  //   vocab_rows empty: full vocabulary, n_vocab_out = config().vocab_size
  //   vocab_rows given: only those rows of lm_head, n_vocab_out = vocab_rows.size()
  //     (the guard's grammar needs the logits of a handful of allowed tokens only)
  // Throws if the cache would overflow n_ctx or a token id is out of range.
  // Allocation-free after the first call with a given max n (scratch grows once).
  void forward(const kernels::Context& ctx, std::span<const int32_t> tokens, KvCache& cache,
               Logits which, std::span<float> out, std::span<const int32_t> vocab_rows = {});

  // Convenience: greedy decoding (argmax), stops at any id in `stop` or after max_new.
  std::vector<int32_t> generate_greedy(const kernels::Context& ctx, std::span<const int32_t> prompt,
                                       KvCache& cache, int max_new, std::span<const int32_t> stop);
};

}  // namespace qg::model
