// The explicit state the forward pass runs over, apart from the weights:
//  - KvCache (per sequence): keys and values of every layer. The forward pass writes
//    k_proj/v_proj outputs straight into the rows of the new positions (then applies
//    k_norm and RoPE there), so nothing is copied into the cache afterwards.
//  - Activations (per model, shared by the sequences it runs): scratch buffers that
//    grow once to the largest chunk and context seen, so forward() allocates nothing
//    after warm-up.
#include <algorithm>
#include <cstdlib>

#include "base/error.h"
#include "model/activations.h"
#include "model/qwen3.h"

namespace qg::model {

KvCache::KvCache(const Qwen3Config& cfg, int64_t n_ctx)
    : n_ctx_(n_ctx), n_layers_(cfg.num_hidden_layers), row_floats_(cfg.kv_dim()) {
  if (n_ctx <= 0) fail("KvCache: n_ctx must be positive, got ", n_ctx);
  if (n_ctx > cfg.max_position_embeddings) {
    fail("KvCache: n_ctx ", n_ctx, " exceeds the model's max_position_embeddings ", cfg.max_position_embeddings);
  }
  layer_floats_ = static_cast<size_t>(n_ctx) * static_cast<size_t>(row_floats_);
  const size_t total = layer_floats_ * static_cast<size_t>(n_layers_);
  // calloc: large blocks come from fresh zero pages that are only committed when
  // written (see the class comment in qwen3.h).
  k_.reset(static_cast<float*>(std::calloc(total, sizeof(float))));
  v_.reset(static_cast<float*>(std::calloc(total, sizeof(float))));
  if (!k_ || !v_) fail("KvCache: cannot allocate ", 2 * total * sizeof(float), " bytes for ", n_ctx, " positions");
}

void KvCache::truncate(int64_t n) {
  if (n < 0 || n > n_past_) fail("KvCache::truncate(", n, "): the cache holds ", n_past_, " positions");
  // Rows >= n are simply overwritten by the next forward call; no need to clear them.
  n_past_ = n;
}

void Activations::ensure(const kernels::Context& ctx, const Qwen3Config& c, int64_t n, int64_t n_ctx) {
  if (n > cap_n_ || n_ctx > cap_ctx_) {
    // Grow both dimensions to at least what was asked and what we already had, so a
    // short call after a long one never shrinks anything.
    cap_n_ = std::max(cap_n_, n);
    cap_ctx_ = std::max(cap_ctx_, n_ctx);
    const auto N = static_cast<size_t>(cap_n_);
    x.resize(N * c.hidden_size);
    xn.resize(N * c.hidden_size);
    q.resize(N * c.q_dim());
    attn.resize(N * c.q_dim());
    gate.resize(N * c.intermediate_size);
    up.resize(N * c.intermediate_size);
    pos.resize(N);
  }
  // The attention scratch also depends on the context (per-thread buffers), and a
  // model may be driven by contexts with different thread counts: check every call.
  const size_t need = kernels::attention_scratch_floats(ctx, cap_n_, cap_ctx_, c.num_attention_heads);
  if (scratch.size() < need) scratch.resize(need);
}

}  // namespace qg::model
