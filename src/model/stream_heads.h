// model/stream_heads: the token-level heads of Qwen3Guard-Stream (Qwen3ForGuardModel),
// part of the network: two head pairs on the backbone's final normed hidden state h
// (shared/spec/QWEN3GUARD.md §4.1), for every position independently:
//
//   response:  x = RMSNorm(h · W_preᵀ) * ln;  risk = x · W_riskᵀ [3];  category = x · W_catᵀ [8]
//   query:     the same with the query_* tensors;  query_risk [3];  query_category [9]
//
// RMSNorm uses rms_norm_eps (as the vLLM and SGLang ports do); every Linear is
// bias-free. Pure functions over explicit buffers, computed with kernels:: calls, so
// a position's head logits are bitwise the same whether it is scored alone or in any
// batch (kernels' batch invariance). What the outputs mean (labels, the decision rule)
// is guard/'s business; the label maps stay in the config.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "model/config.h"
#include "weights/tensor_store.h"

namespace qg::model {

// One head pair. G = guard_inner_size, H = hidden_size.
struct StreamHeadPair {
  kernels::MatRef pre;       // [G, H]         {p}risk_level_category_pre.weight
  std::vector<float> norm;   // [G]            {p}risk_level_category_layernorm.weight (widened to f32)
  kernels::MatRef risk;      // [n_risk, G]    {p}risk_level_head.weight
  kernels::MatRef category;  // [n_cat, G]     {p}category_head.weight
};

struct StreamHeadWeights {
  StreamHeadPair response;  // prefix ""
  StreamHeadPair query;     // prefix "query_"

  // Binds the eight head tensors (top level, no "model." prefix) with the shapes the
  // config implies (head sizes = the label maps' sizes). Also refuses every tensor in
  // the checkpoint that neither the backbone nor the heads use (a Stream checkpoint
  // with an unknown tensor is one we do not understand; nothing is dropped silently).
  // cfg.stream must be set.
  static StreamHeadWeights bind(const weights::TensorStore& store, const Qwen3Config& cfg);

  int64_t n_risk() const { return response.risk.rows; }
  int64_t n_category() const { return response.category.rows; }
  int64_t n_query_risk() const { return query.risk.rows; }
  int64_t n_query_category() const { return query.category.rows; }
  int64_t n_outputs() const { return n_risk() + n_category() + n_query_risk() + n_query_category(); }
};

// Per-position head logits, row-major, in the checkpoint's head order. The row layout
// of `all` is [risk | category | query_risk | query_category] (vLLM's pooled order).
struct StreamHeadLogits {
  int64_t n = 0;                 // positions
  std::vector<float> all;        // [n, n_outputs]
  int64_t n_risk = 0, n_category = 0, n_query_risk = 0, n_query_category = 0;

  int64_t width() const { return n_risk + n_category + n_query_risk + n_query_category; }
  std::span<const float> risk(int64_t i) const { return row(i, 0, n_risk); }
  std::span<const float> category(int64_t i) const { return row(i, n_risk, n_category); }
  std::span<const float> query_risk(int64_t i) const { return row(i, n_risk + n_category, n_query_risk); }
  std::span<const float> query_category(int64_t i) const {
    return row(i, n_risk + n_category + n_query_risk, n_query_category);
  }

 private:
  std::span<const float> row(int64_t i, int64_t off, int64_t len) const {
    return {all.data() + i * width() + off, static_cast<size_t>(len)};
  }
};

// Scratch of the heads, grown on demand (never shrinks).
struct StreamHeadScratch {
  std::vector<float> x;    // [n, G] pre projection, normed in place
  std::vector<float> out;  // [n, max head rows] one head's logits before interleaving
};

// Head logits of n positions: hidden [n, H] (final normed hidden states) -> out.
// Allocation-free once scratch and out have grown to n.
void stream_heads(const kernels::Context& ctx, const StreamHeadWeights& w, const Qwen3Config& cfg,
                  const float* hidden, int64_t n, StreamHeadLogits& out, StreamHeadScratch& scratch);

}  // namespace qg::model
