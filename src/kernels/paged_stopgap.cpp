// TEMPORARY (dev/engine): a plain scalar attention_paged / kv_store so the engine
// branch builds and tests before the kernels work (dev/kernels) lands the real ones.
// Deleted when dev/kernels is merged. Batch-invariant by construction: one query and
// head per task, keys visited in position order, one f32 accumulator each.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/dtype.h"
#include "base/error.h"
#include "kernels/kernels.h"
#include "kernels/thread_pool.h"

namespace qg::kernels {
namespace {

inline float load(const void* base, DType dt, int64_t i) {
  if (dt == DType::kF16) return f16_to_f32(static_cast<const uint16_t*>(base)[i]);
  return static_cast<const float*>(base)[i];
}

// Element offset of (position p, element e) in a paged layer.
inline int64_t paged_offset(const PagedKv& kv, int64_t p, int64_t row_elems, int64_t e) {
  const int64_t b = kv.blocks[p / kv.block_tokens];
  return b * kv.block_stride + (p % kv.block_tokens) * row_elems + e;
}

}  // namespace

size_t attention_paged_scratch_floats(const Context& ctx, int64_t n_q, int64_t n_pos, int64_t n_heads,
                                      int64_t head_dim) {
  (void)n_q, (void)n_heads, (void)head_dim;
  return static_cast<size_t>(ctx.n_threads()) * static_cast<size_t>(n_pos);
}

void attention_paged(const Context& ctx, const float* q, int64_t n_q, int64_t pos0, const PagedKv& kv,
                     int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float scale, float* out,
                     float* scratch) {
  QG_CHECK(n_kv_heads > 0 && n_heads % n_kv_heads == 0, "attention_paged: heads");
  if (n_q == 0) return;
  const int64_t group = n_heads / n_kv_heads;
  const int64_t n_pos = pos0 + n_q;
  const int64_t row = n_kv_heads * head_dim;
  ctx.pool().parallel_ranges(n_q * n_heads, [&](int64_t begin, int64_t end, int thread) {
    float* scores = scratch + static_cast<int64_t>(thread) * n_pos;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t i = task / n_heads, h = task % n_heads, kvh = h / group;
      const int64_t n_seen = pos0 + i + 1;
      const float* qi = q + (i * n_heads + h) * head_dim;
      float max_s = -INFINITY;
      for (int64_t j = 0; j < n_seen; ++j) {
        const int64_t off = paged_offset(kv, j, row, kvh * head_dim);
        float dot = 0.0f;
        for (int64_t d = 0; d < head_dim; ++d) dot += qi[d] * load(kv.k, kv.dtype, off + d);
        scores[j] = dot * scale;
        max_s = std::max(max_s, scores[j]);
      }
      float sum = 0.0f;
      for (int64_t j = 0; j < n_seen; ++j) {
        scores[j] = std::exp(scores[j] - max_s);
        sum += scores[j];
      }
      float* oi = out + (i * n_heads + h) * head_dim;
      for (int64_t d = 0; d < head_dim; ++d) oi[d] = 0.0f;
      for (int64_t j = 0; j < n_seen; ++j) {
        const float p = scores[j] / sum;
        const int64_t off = paged_offset(kv, j, row, kvh * head_dim);
        for (int64_t d = 0; d < head_dim; ++d) oi[d] += p * load(kv.v, kv.dtype, off + d);
      }
    }
  });
}

void kv_store(const Context& ctx, const float* rows, int64_t n, int64_t row_elems, int64_t pos0, void* base,
              const PagedKv& kv) {
  (void)ctx;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t off = paged_offset(kv, pos0 + i, row_elems, 0);
    const float* src = rows + i * row_elems;
    if (kv.dtype == DType::kF16) {
      uint16_t* dst = static_cast<uint16_t*>(base) + off;
      for (int64_t e = 0; e < row_elems; ++e) dst[e] = f32_to_f16(src[e]);
    } else {
      std::memcpy(static_cast<float*>(base) + off, src, static_cast<size_t>(row_elems) * sizeof(float));
    }
  }
}

}  // namespace qg::kernels
