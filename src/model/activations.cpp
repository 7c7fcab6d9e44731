// Activations::ensure — the only place the forward pass's scratch memory grows.
#include "model/activations.h"

namespace qg::model {

void Activations::ensure(const kernels::Context& ctx, const Qwen3Config& c, int64_t n, int64_t n_ctx) {
  if (n <= cap_n_ && n_ctx <= cap_ctx_) return;
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
  scratch.resize(kernels::attention_scratch_floats(ctx, cap_n_, cap_ctx_, c.num_attention_heads));
}

}  // namespace qg::model
