// model::forward: the batched Qwen3 forward pass (shared/spec/QWEN3GUARD.md §3.1) over
// explicit state — immutable weights, a paged KV pool, a batch of sequences, caller-owned
// scratch:
//
//   x = embed_tokens[tokens of every sequence, concatenated]          [T, H]
//   for each layer:
//     h = rmsnorm(x) * input_layernorm
//     q, k, v = h·Wqᵀ, h·Wkᵀ, h·Wvᵀ        one matmul each over all T tokens
//     q, k = per-head rmsnorm (q_norm, k_norm), then RoPE at each token's own position
//     per sequence: store k, v into its blocks (kv_store), attend over its blocks
//                   (attention_paged, in place: no gather)
//     x += a·Woᵀ;  x += (silu(h·Wgᵀ) * (h·Wuᵀ))·Wdᵀ   (again once over all T tokens)
//   at the wanted positions only: final rmsnorm, then hidden states and/or logits
//   (lm_head over the full vocabulary, or matmul_rows over chosen rows).
//
// Batch invariance: every kernel reduces each output in an order independent of how many
// tokens are in the call (kernels/kernels.h), so a sequence's outputs do not depend on
// its batch-mates or on how its tokens were split into calls. This file must keep that:
// it never sums across tokens, and the pass split (kMaxPass) only changes which tokens
// share a matmul call.
//
// Validation of every input happens before the first write: a rejected call changes no
// KV block and no output span.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/error.h"
#include "model/forward_scratch.h"
#include "model/qwen3.h"
#include "model/qwen3_weights.h"

namespace qg::model {

namespace {

constexpr int64_t kMaxPass = 512;     // tokens per pass through the layers (bounds scratch)
constexpr int64_t kLogitRows = 32;    // full-vocab logit rows gathered per lm_head call

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

void validate(const Qwen3Config& c, const KvStorage& kv, std::span<const SeqStep> batch,
              std::vector<int32_t>& written) {
  const int64_t kv_row = c.kv_dim();
  if (kv.k == nullptr || kv.v == nullptr) fail("forward: the KV storage has no memory");
  if (kv.n_layers != c.num_hidden_layers) {
    fail("forward: the KV storage has ", kv.n_layers, " layers, the model ", c.num_hidden_layers);
  }
  if (kv.dtype != DType::kF32 && kv.dtype != DType::kF16) fail("forward: KV dtype must be f32 or f16");
  if (kv.block_tokens <= 0 || kv.block_stride < kv.block_tokens * kv_row || kv.n_blocks <= 0) {
    fail("forward: KV storage shape (block_tokens ", kv.block_tokens, ", stride ", kv.block_stride,
         ") does not hold [block_tokens, ", c.num_key_value_heads, ", ", c.head_dim, "]");
  }
  written.clear();
  for (size_t s = 0; s < batch.size(); ++s) {
    const SeqStep& st = batch[s];
    const auto n = static_cast<int64_t>(st.tokens.size());
    if (n == 0) fail("forward: sequence ", s, " of the batch has no tokens");
    if (st.pos0 < 0 || st.pos0 + n > c.max_position_embeddings) {
      fail("forward: sequence ", s, ": positions ", st.pos0, "..", st.pos0 + n - 1,
           " exceed the model's max_position_embeddings ", c.max_position_embeddings);
    }
    for (int64_t i = 0; i < n; ++i) {
      if (st.tokens[i] < 0 || st.tokens[i] >= c.vocab_size) {
        fail("forward: sequence ", s, ": token id ", st.tokens[i], " at index ", i,
             " is outside the vocabulary [0, ", c.vocab_size, ")");
      }
    }
    const int64_t need_blocks = ceil_div(st.pos0 + n, kv.block_tokens);
    if (static_cast<int64_t>(st.blocks.size()) < need_blocks) {
      fail("forward: sequence ", s, ": its block table has ", st.blocks.size(), " blocks, positions 0..",
           st.pos0 + n - 1, " need ", need_blocks);
    }
    for (int64_t i = 0; i < need_blocks; ++i) {
      if (st.blocks[i] < 0 || st.blocks[i] >= kv.n_blocks) {
        fail("forward: sequence ", s, ": block ", st.blocks[i], " is outside the pool [0, ", kv.n_blocks, ")");
      }
    }
    for (int64_t i = st.pos0 / kv.block_tokens; i < need_blocks; ++i) written.push_back(st.blocks[i]);
    for (size_t j = 0; j < st.out_positions.size(); ++j) {
      const int32_t p = st.out_positions[j];
      if (p < 0 || p >= n || (j > 0 && p <= st.out_positions[j - 1])) {
        fail("forward: sequence ", s, ": output positions must be ascending indices into its ", n,
             " tokens (index ", j, " is ", p, ")");
      }
    }
    const auto n_out = static_cast<int64_t>(st.out_positions.size());
    if (st.want_logits) {
      for (int32_t r : st.vocab_rows) {
        if (r < 0 || r >= c.vocab_size) {
          fail("forward: sequence ", s, ": vocab row ", r, " is outside the vocabulary [0, ", c.vocab_size, ")");
        }
      }
      const int64_t rows = st.vocab_rows.empty() ? c.vocab_size : static_cast<int64_t>(st.vocab_rows.size());
      if (static_cast<int64_t>(st.logits.size()) < n_out * rows) {
        fail("forward: sequence ", s, ": logits span holds ", st.logits.size(), " floats, ", n_out * rows,
             " needed");
      }
    }
    if (st.want_hidden && static_cast<int64_t>(st.hidden.size()) < n_out * c.hidden_size) {
      fail("forward: sequence ", s, ": hidden span holds ", st.hidden.size(), " floats, ",
           n_out * c.hidden_size, " needed");
    }
  }
  // Two sequences writing one block would corrupt each other (the engine copies shared
  // blocks on write before it gets here).
  std::sort(written.begin(), written.end());
  if (std::adjacent_find(written.begin(), written.end()) != written.end()) {
    fail("forward: two sequences of the batch (or two positions of one) write the same KV block");
  }
}

// A piece of one sequence's tokens inside a pass.
struct Segment {
  size_t seq;       // index into the batch
  int64_t t0, n;    // tokens t0 .. t0+n-1 of that sequence
  int64_t row0;     // first row of the pass's [T, ...] buffers
};

// One output row wanted in the pass.
struct OutRow {
  size_t seq;
  int64_t j;        // index into the sequence's out_positions
};

}  // namespace

void* KvStorage::k_layer(int64_t l) const {
  return static_cast<char*>(k) + static_cast<size_t>(l * n_blocks * block_stride) * dtype_size(dtype);
}
void* KvStorage::v_layer(int64_t l) const {
  return static_cast<char*>(v) + static_cast<size_t>(l * n_blocks * block_stride) * dtype_size(dtype);
}

void forward(const kernels::Context& ctx, const Qwen3Model& model, const KvStorage& kv,
             std::span<const SeqStep> batch, ForwardScratch& scratch) {
  const Qwen3Config& c = model.config();
  const Qwen3Weights& w = model.weights();
  const float* inv_freq = model.rope_inv_freq().data();
  ForwardScratch::Buffers& b = scratch.buffers();
  validate(c, kv, batch, b.written);

  const int64_t H = c.hidden_size, I = c.intermediate_size, d = c.head_dim, V = c.vocab_size;
  const int64_t nh = c.num_attention_heads, nkv = c.num_key_value_heads;
  const int64_t qd = nh * d, kd = nkv * d;
  const auto eps = static_cast<float>(c.rms_norm_eps);
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));

  std::vector<Segment> segs;
  std::vector<OutRow> outs;
  size_t seq = 0;
  int64_t done_in_seq = 0;  // tokens of batch[seq] already run
  while (seq < batch.size()) {
    // ---- Plan one pass: up to kMaxPass tokens, splitting a sequence where the pass fills.
    segs.clear();
    int64_t T = 0;
    while (seq < batch.size() && T < kMaxPass) {
      const auto n_seq = static_cast<int64_t>(batch[seq].tokens.size());
      const int64_t n = std::min(n_seq - done_in_seq, kMaxPass - T);
      segs.push_back({seq, done_in_seq, n, T});
      T += n;
      done_in_seq += n;
      if (done_in_seq == n_seq) ++seq, done_in_seq = 0;
    }
    b.ensure_tokens(c, T);
    size_t attn_need = 0;
    for (const Segment& g : segs) {
      attn_need = std::max(attn_need, kernels::attention_paged_scratch_floats(
                                          ctx, g.n, batch[g.seq].pos0 + g.t0 + g.n, nh, d));
    }
    if (b.attn_scratch.size() < attn_need) b.attn_scratch.resize(attn_need);

    float* x = b.x.data();    // [T, H]
    float* xn = b.xn.data();  // [T, H]
    float* q = b.q.data();    // [T, nh*d]
    float* k = b.k.data();    // [T, nkv*d]
    float* v = b.v.data();    // [T, nkv*d]
    for (const Segment& g : segs) {
      const SeqStep& st = batch[g.seq];
      for (int64_t i = 0; i < g.n; ++i) {
        b.pos[g.row0 + i] = static_cast<int32_t>(st.pos0 + g.t0 + i);
        kernels::get_row(w.embed_tokens, st.tokens[g.t0 + i], x + (g.row0 + i) * H);
      }
    }

    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
      const LayerWeights& L = w.layers[static_cast<size_t>(l)];
      void* k_pool = kv.k_layer(l);  // [n_blocks, block_tokens, nkv, d] of kv.dtype
      void* v_pool = kv.v_layer(l);

      kernels::rmsnorm(ctx, x, L.input_layernorm.data(), T, H, eps, xn);
      {  // q, k, v in one pass over xn (bitwise the same as three matmul calls)
        const kernels::MatRef qkv[3] = {L.q_proj, L.k_proj, L.v_proj};
        float* const ys[3] = {q, k, v};
        kernels::matmul_multi(ctx, qkv, 3, xn, T, ys);
      }
      // Qwen3's per-head q/k RMSNorm over head_dim, before RoPE.
      kernels::rmsnorm(ctx, q, L.q_norm.data(), T * nh, d, eps, q);
      kernels::rmsnorm(ctx, k, L.k_norm.data(), T * nkv, d, eps, k);
      kernels::rope(ctx, q, T, nh, d, b.pos.data(), inv_freq);
      kernels::rope(ctx, k, T, nkv, d, b.pos.data(), inv_freq);
      // Every sequence's new K/V is stored before any attention of this layer reads.
      for (const Segment& g : segs) {
        const SeqStep& st = batch[g.seq];
        const kernels::PagedKv pk{k_pool, v_pool, st.blocks.data(), kv.block_tokens, kv.block_stride, kv.dtype};
        kernels::kv_store(ctx, k + g.row0 * kd, g.n, kd, st.pos0 + g.t0, k_pool, pk);
        kernels::kv_store(ctx, v + g.row0 * kd, g.n, kd, st.pos0 + g.t0, v_pool, pk);
      }
      for (const Segment& g : segs) {
        const SeqStep& st = batch[g.seq];
        const kernels::PagedKv pk{k_pool, v_pool, st.blocks.data(), kv.block_tokens, kv.block_stride, kv.dtype};
        kernels::attention_paged(ctx, q + g.row0 * qd, g.n, st.pos0 + g.t0, pk, nh, nkv, d, scale,
                                 b.attn.data() + g.row0 * qd, b.attn_scratch.data());
      }
      kernels::matmul(ctx, L.o_proj, b.attn.data(), T, xn);  // [T, H]
      kernels::add(ctx, x, xn, T * H, x);

      kernels::rmsnorm(ctx, x, L.post_attention_layernorm.data(), T, H, eps, xn);
      {  // gate [T, I] and up [T, I] in one pass
        const kernels::MatRef gu[2] = {L.gate_proj, L.up_proj};
        float* const ys[2] = {b.gate.data(), b.up.data()};
        kernels::matmul_multi(ctx, gu, 2, xn, T, ys);
      }
      kernels::silu_mul(ctx, b.gate.data(), b.up.data(), T * I, b.gate.data());
      kernels::matmul(ctx, L.down_proj, b.gate.data(), T, xn);  // [T, H]
      kernels::add(ctx, x, xn, T * H, x);
    }

    // ---- Outputs: final norm of the wanted rows only, gathered in batch order.
    outs.clear();
    for (const Segment& g : segs) {
      const SeqStep& st = batch[g.seq];
      if (!st.want_logits && !st.want_hidden) continue;
      for (size_t j = 0; j < st.out_positions.size(); ++j) {
        const int32_t p = st.out_positions[j];
        if (p >= g.t0 && p < g.t0 + g.n) {
          std::memcpy(xn + static_cast<int64_t>(outs.size()) * H, x + (g.row0 + p - g.t0) * H,
                      static_cast<size_t>(H) * sizeof(float));
          outs.push_back({g.seq, static_cast<int64_t>(j)});
        }
      }
    }
    const auto M = static_cast<int64_t>(outs.size());
    if (M == 0) continue;
    // xn has T >= M rows: the gathered rows fit, and rmsnorm may run in place.
    kernels::rmsnorm(ctx, xn, w.norm.data(), M, H, eps, xn);
    for (int64_t r = 0; r < M; ++r) {
      const SeqStep& st = batch[outs[r].seq];
      if (st.want_hidden) {
        std::memcpy(st.hidden.data() + outs[r].j * H, xn + r * H, static_cast<size_t>(H) * sizeof(float));
      }
    }
    // Logits. Rows of one sequence are consecutive in `outs` and in its logits span, so a
    // run of them goes in one call straight into the span; full-vocabulary rows of
    // several sequences share lm_head calls through logit_buf (one pass over the
    // vocabulary matrix for the whole batch, which is what makes batched decoding pay).
    int64_t r = 0;
    std::vector<int64_t>& pending = b.pending_rows;  // rows of xn waiting for a shared lm_head call
    pending.clear();
    auto flush_full = [&]() {
      if (pending.empty()) return;
      const auto m = static_cast<int64_t>(pending.size());
      b.ensure_logit_rows(c, m);
      float* gx = b.out_x.data();  // [m, H]
      for (int64_t i = 0; i < m; ++i) {
        std::memcpy(gx + i * H, xn + pending[i] * H, static_cast<size_t>(H) * sizeof(float));
      }
      kernels::matmul(ctx, w.lm_head, gx, m, b.logit_buf.data());  // [m, V]
      for (int64_t i = 0; i < m; ++i) {
        const OutRow& o = outs[pending[i]];
        std::memcpy(batch[o.seq].logits.data() + o.j * V, b.logit_buf.data() + i * V,
                    static_cast<size_t>(V) * sizeof(float));
      }
      pending.clear();
    };
    while (r < M) {
      const SeqStep& st = batch[outs[r].seq];
      int64_t e = r + 1;
      while (e < M && outs[e].seq == outs[r].seq) ++e;
      if (st.want_logits) {
        if (!st.vocab_rows.empty()) {
          const auto nr = static_cast<int64_t>(st.vocab_rows.size());
          kernels::matmul_rows(ctx, w.lm_head, st.vocab_rows.data(), nr, xn + r * H, e - r,
                               st.logits.data() + outs[r].j * nr);
        } else if (e - r >= kLogitRows) {
          kernels::matmul(ctx, w.lm_head, xn + r * H, e - r, st.logits.data() + outs[r].j * V);
        } else {
          for (int64_t i = r; i < e; ++i) {
            if (static_cast<int64_t>(pending.size()) == kLogitRows) flush_full();
            pending.push_back(i);
          }
        }
      }
      r = e;
    }
    flush_full();
  }
}

}  // namespace qg::model
