// Activations: the forward pass's scratch buffers, shared by every sequence a model
// runs (per-sequence state lives in KvCache). Sized for a chunk of up to `n` tokens
// and a context of `n_ctx` positions; ensure() grows them and never shrinks, so after
// the first call with the largest shapes the forward pass allocates nothing.
//
// All activations are f32 (the weights stay in their stored dtype; kernels widen).
// Shapes: n = tokens in the chunk, H = hidden, I = intermediate, nh = query heads,
// d = head_dim.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/kernels.h"
#include "model/config.h"

namespace qg::model {

class Activations {
 public:
  // Grows the buffers to hold a chunk of n tokens attending over up to n_ctx
  // positions. Cheap when nothing needs to grow.
  void ensure(const kernels::Context& ctx, const Qwen3Config& c, int64_t n, int64_t n_ctx);

  int64_t capacity() const { return cap_n_; }

  std::vector<float> x;        // [n, H]    residual stream
  std::vector<float> xn;       // [n, H]    normed input of a block / block output before the residual add
  std::vector<float> q;        // [n, nh*d] queries (q_norm and RoPE applied in place)
  std::vector<float> attn;     // [n, nh*d] attention output, input of o_proj
  std::vector<float> gate;     // [n, I]    gate_proj output, then silu(gate) * up in place
  std::vector<float> up;       // [n, I]    up_proj output
  std::vector<float> scratch;  // [attention_scratch_floats(ctx, n, n_ctx, nh)]
  std::vector<int32_t> pos;    // [n]       absolute positions of the chunk's tokens

 private:
  int64_t cap_n_ = 0;
  int64_t cap_ctx_ = 0;
};

}  // namespace qg::model
