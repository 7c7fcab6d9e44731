// KvCache: per-sequence keys and values of every layer. The forward pass writes
// k_proj/v_proj outputs straight into the rows of the new positions (then applies
// k_norm and RoPE there), so nothing is copied into the cache afterwards.
#include <cstdlib>
#include <new>

#include "base/error.h"
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

}  // namespace qg::model
