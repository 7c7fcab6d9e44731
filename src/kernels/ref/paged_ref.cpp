// Scalar reference of the paged-cache kernels (kernels.h: attention_paged, kv_store).
// The oracle of the AVX2 path and the path QG_FORCE_ISA=scalar selects.
//
// attention_paged, per (query i, head h), in exactly this order:
//   s_j = (Σ_d q[d]·k_j[d], d ascending) · scale        for j = 0 .. pos0+i
//   m   = max_j s_j;  e_j = exp(s_j − m);  l = Σ_j e_j  (j ascending)
//   out[d] = (Σ_j (e_j / l) · v_j[d], j ascending)
// Every step depends only on the query, on its position pos0+i and on the cached rows
// it sees, never on n_q, pos0 or the thread count: so the result is batch-invariant
// (chunked prefill ≡ one shot ≡ token-by-token decode), bitwise. The score row lives
// in one scratch row per thread.
#include <cmath>
#include <cstring>

#include "base/dtype.h"
#include "kernels/kernel_table.h"
#include "kernels/thread_pool.h"

namespace qg::kernels::ref {
namespace {

// Element offset of position `pos`, kv head `kvh` in a K or V pool layer.
int64_t row_offset(const PagedKv& kv, int64_t pos, int64_t row_elems, int64_t kvh,
                   int64_t head_dim) {
  const int64_t block = kv.blocks[pos / kv.block_tokens];
  return block * kv.block_stride + (pos % kv.block_tokens) * row_elems + kvh * head_dim;
}

float element(const void* base, DType dtype, int64_t i) {
  if (dtype == DType::kF16) return f16_to_f32(static_cast<const uint16_t*>(base)[i]);
  return static_cast<const float*>(base)[i];
}

}  // namespace

// One score row per thread: [n_threads, n_pos].
size_t attention_paged_scratch_floats(int n_threads, int64_t n_q, int64_t n_pos, int64_t n_heads,
                                      int64_t head_dim) {
  return static_cast<size_t>(n_threads) * static_cast<size_t>(n_pos);
}

// q, out: [n_q, n_heads, head_dim]; kv: blocks of [block_tokens, n_kv_heads, head_dim].
void attention_paged(ThreadPool& pool, const float* q, int64_t n_q, int64_t pos0, const PagedKv& kv,
                     int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float scale, float* out,
                     float* scratch) {
  const int64_t group = n_heads / n_kv_heads;
  const int64_t row_elems = n_kv_heads * head_dim;
  const int64_t n_pos = pos0 + n_q;
  pool.parallel_ranges(n_q * n_heads, [&](int64_t begin, int64_t end, int thread) {
    float* scores = scratch + thread * n_pos;  // [n_pos]
    for (int64_t task = begin; task < end; ++task) {
      const int64_t i = task / n_heads;
      const int64_t h = task % n_heads;
      const int64_t kvh = h / group;
      const int64_t n_seen = pos0 + i + 1;
      const float* qi = q + (i * n_heads + h) * head_dim;  // [head_dim]
      float max_s = -INFINITY;
      for (int64_t j = 0; j < n_seen; ++j) {
        const int64_t off = row_offset(kv, j, row_elems, kvh, head_dim);
        float dot = 0.0f;
        for (int64_t d = 0; d < head_dim; ++d) dot += qi[d] * element(kv.k, kv.dtype, off + d);
        scores[j] = dot * scale;
        max_s = std::fmax(max_s, scores[j]);
      }
      float sum = 0.0f;
      for (int64_t j = 0; j < n_seen; ++j) {
        scores[j] = std::exp(scores[j] - max_s);
        sum += scores[j];
      }
      float* oi = out + (i * n_heads + h) * head_dim;  // [head_dim]
      for (int64_t d = 0; d < head_dim; ++d) oi[d] = 0.0f;
      for (int64_t j = 0; j < n_seen; ++j) {
        const float p = scores[j] / sum;
        const int64_t off = row_offset(kv, j, row_elems, kvh, head_dim);
        for (int64_t d = 0; d < head_dim; ++d) oi[d] += p * element(kv.v, kv.dtype, off + d);
      }
    }
  });
}

// rows: [n, row_elems] f32, stored at positions pos0 .. pos0+n-1 of `base`.
void kv_store(ThreadPool&, const float* rows, int64_t n, int64_t row_elems, int64_t pos0,
              void* base, const PagedKv& kv) {
  for (int64_t t = 0; t < n; ++t) {
    const int64_t pos = pos0 + t;
    const int64_t off =
        kv.blocks[pos / kv.block_tokens] * kv.block_stride + (pos % kv.block_tokens) * row_elems;
    const float* src = rows + t * row_elems;  // [row_elems]
    if (kv.dtype == DType::kF16) {
      uint16_t* dst = static_cast<uint16_t*>(base) + off;
      for (int64_t e = 0; e < row_elems; ++e) dst[e] = f32_to_f16(src[e]);
    } else {
      std::memcpy(static_cast<float*>(base) + off, src, static_cast<size_t>(row_elems) * 4);
    }
  }
}

}  // namespace qg::kernels::ref
