// Scalar reference of causal grouped-query attention, the oracle for avx2/. Per
// query head h and query i (absolute position pos0 + i), as HF's eager attention in
// float32: s_j = (q·k_j)·scale for j <= pos0+i, p = softmax(s) computed stably
// (subtract the max before exp), out = Σ_j p_j v_j. Head h reads kv head
// h / (n_heads / n_kv_heads) (repeat_kv).
#include <algorithm>
#include <cmath>

#include "kernels/kernel_table.h"
#include "kernels/thread_pool.h"

namespace qg::kernels::ref {

// One score row per thread: [n_threads, n_kv_pos].
size_t attention_scratch_floats(int n_threads, int64_t n_q, int64_t n_kv_pos, int64_t n_heads) {
  return static_cast<size_t>(n_threads) * static_cast<size_t>(n_kv_pos);
}

// q, out: [n_q, n_heads, head_dim]; k, v: [n_kv_pos, n_kv_heads, head_dim].
void attention(ThreadPool& pool, const float* q, int64_t n_q, int64_t pos0, const float* k,
               const float* v, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float scale,
               float* out, float* scratch) {
  const int64_t group = n_heads / n_kv_heads;
  const int64_t n_kv = pos0 + n_q;  // cache rows the last query sees
  // Tasks are (query, head) pairs; each thread owns one score row of scratch.
  pool.parallel_ranges(n_q * n_heads, [&](int64_t begin, int64_t end, int thread) {
    float* scores = scratch + thread * n_kv;  // [n_kv]
    for (int64_t task = begin; task < end; ++task) {
      const int64_t i = task / n_heads;
      const int64_t h = task % n_heads;
      const int64_t kvh = h / group;
      const int64_t n_seen = pos0 + i + 1;  // causal: rows 0 .. pos0+i
      const float* qi = q + (i * n_heads + h) * head_dim;

      float max_s = -INFINITY;
      for (int64_t j = 0; j < n_seen; ++j) {
        const float* kj = k + (j * n_kv_heads + kvh) * head_dim;
        float dot = 0.0f;
        for (int64_t d = 0; d < head_dim; ++d) dot += qi[d] * kj[d];
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
        const float* vj = v + (j * n_kv_heads + kvh) * head_dim;
        for (int64_t d = 0; d < head_dim; ++d) oi[d] += p * vj[d];
      }
    }
  });
}

}  // namespace qg::kernels::ref
