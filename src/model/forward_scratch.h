// ForwardScratch::Buffers: the batched forward pass's scratch, owned by the caller
// (the engine thread, or a KvCache for the single-sequence API) so that the model itself
// holds only immutable weights. Sized for a pass of up to `n` tokens and grown on demand,
// never shrunk: after the largest pass a steady stream of steps allocates nothing.
//
// All activations are f32. Shapes: T = tokens in the pass (all sequences together),
// H = hidden, I = intermediate, nh/nkv = query/kv heads, d = head_dim, M = output rows.
// Internal to model/.
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"
#include "model/forward.h"

namespace qg::model {

struct ForwardScratch::Buffers {
  void ensure_tokens(const Qwen3Config& c, int64_t n);
  void ensure_logit_rows(const Qwen3Config& c, int64_t m);  // out_x, logit_buf for m rows

  std::vector<float> x;       // [T, H]      residual stream
  std::vector<float> xn;      // [T, H]      normed input of a block / block output before the residual add
  std::vector<float> q;       // [T, nh*d]   queries (q_norm and RoPE applied in place)
  std::vector<float> k;       // [T, nkv*d]  new keys (k_norm, RoPE), then stored into the blocks
  std::vector<float> v;       // [T, nkv*d]  new values
  std::vector<float> attn;    // [T, nh*d]   attention output, input of o_proj
  std::vector<float> gate;    // [T, I]      gate_proj output, then silu(gate) * up in place
  std::vector<float> up;      // [T, I]      up_proj output
  std::vector<int32_t> pos;   // [T]         absolute positions of the pass's tokens
  std::vector<float> attn_scratch;  // [attention_paged_scratch_floats(...)], largest sequence
  std::vector<float> out_x;   // [kLogitRows, H] normed rows gathered for a shared lm_head call
  std::vector<float> logit_buf;     // [kLogitRows, V] full-vocab logits of several sequences
  std::vector<int32_t> written;     // physical blocks written by the call (validation)
  std::vector<int64_t> pending_rows;  // output rows waiting for a shared lm_head call
  int64_t cap_tokens = 0;
};

}  // namespace qg::model
