// AVX2/FMA causal grouped-query attention. Must equal ref/attention_ref.cpp to
// ~1e-5 relative: same math (scores, stable softmax, weighted sum of V), different
// summation order and a vector exp (exp8, a few ulp).
//
// Work is split over (query, head) pairs. Per pair: scores for the visible cache
// rows, 4 keys at a time (4 dot products share one horizontal reduction); softmax
// with the max subtracted; then out = Σ p_j v_j, accumulated in registers 32 dims at
// a time. Scratch holds one score row per thread.
#include <algorithm>
#include <cmath>

#include "kernels/avx2/avx2_util.h"
#include "kernels/kernel_table.h"
#include "kernels/thread_pool.h"

namespace qg::kernels::avx2 {

// One score row per thread, padded to whole vectors: [n_threads, round_up(n_kv_pos, 8)].
size_t attention_scratch_floats(int n_threads, int64_t n_q, int64_t n_kv_pos, int64_t n_heads) {
  return static_cast<size_t>(n_threads) * static_cast<size_t>((n_kv_pos + 7) / 8 * 8);
}

namespace {

// dot(a[d], b[d]) for head_dim-sized vectors; the tail loop handles d % 8.
inline float dot_f32(const float* a, const float* b, int64_t d) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= d; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
  float s = hsum(acc);
  for (; i < d; ++i) s += a[i] * b[i];
  return s;
}

// scores[j] = (q · k_j) · scale for j < n_seen; returns the max score.
//   k_rows: cache rows of one kv head, row j at k_rows + j * k_stride.
float scores_row(const float* qi, const float* k_rows, int64_t k_stride, int64_t n_seen,
                 int64_t head_dim, float scale, float* scores) {
  __m256 vmax = _mm256_set1_ps(-INFINITY);
  int64_t j = 0;
  if (head_dim % 8 == 0) {
    for (; j + 4 <= n_seen; j += 4) {
      const float* k0 = k_rows + j * k_stride;
      const float* k1 = k0 + k_stride;
      const float* k2 = k1 + k_stride;
      const float* k3 = k2 + k_stride;
      __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
      __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
      for (int64_t d = 0; d < head_dim; d += 8) {
        const __m256 qv = _mm256_loadu_ps(qi + d);
        a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + d), a0);
        a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k1 + d), a1);
        a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k2 + d), a2);
        a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k3 + d), a3);
      }
      const __m128 s = _mm_mul_ps(hsum4(a0, a1, a2, a3), _mm_set1_ps(scale));
      _mm_storeu_ps(scores + j, s);
      vmax = _mm256_max_ps(vmax, _mm256_castps128_ps256(s));
    }
  }
  // The upper half of vmax may hold garbage from the cast; reduce only the low half.
  __m128 m4 = _mm256_castps256_ps128(vmax);
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  float max_s = _mm_cvtss_f32(m4);
  for (; j < n_seen; ++j) {
    scores[j] = dot_f32(qi, k_rows + j * k_stride, head_dim) * scale;
    max_s = std::max(max_s, scores[j]);
  }
  return max_s;
}

// scores[j] = exp(scores[j] - max_s) for j < n; returns their sum.
float softmax_numerators(float* scores, int64_t n, float max_s) {
  const __m256 m = _mm256_set1_ps(max_s);
  __m256 acc = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(scores + j), m));
    _mm256_storeu_ps(scores + j, e);
    acc = _mm256_add_ps(acc, e);
  }
  float sum = hsum(acc);
  for (; j < n; ++j) {
    scores[j] = std::exp(scores[j] - max_s);
    sum += scores[j];
  }
  return sum;
}

// out[head_dim] = Σ_j p[j] · v_j / sum, v_j at v_rows + j * v_stride.
void weighted_sum(const float* p, float inv_sum, const float* v_rows, int64_t v_stride,
                  int64_t n_seen, int64_t head_dim, float* out) {
  int64_t d0 = 0;
  for (; d0 + 32 <= head_dim; d0 += 32) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (int64_t j = 0; j < n_seen; ++j) {
      const float* vj = v_rows + j * v_stride + d0;
      const __m256 pj = _mm256_set1_ps(p[j]);
      a0 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj), a0);
      a1 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 8), a1);
      a2 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 16), a2);
      a3 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 24), a3);
    }
    const __m256 s = _mm256_set1_ps(inv_sum);
    _mm256_storeu_ps(out + d0, _mm256_mul_ps(a0, s));
    _mm256_storeu_ps(out + d0 + 8, _mm256_mul_ps(a1, s));
    _mm256_storeu_ps(out + d0 + 16, _mm256_mul_ps(a2, s));
    _mm256_storeu_ps(out + d0 + 24, _mm256_mul_ps(a3, s));
  }
  for (; d0 < head_dim; ++d0) {
    float acc = 0.0f;
    for (int64_t j = 0; j < n_seen; ++j) acc += p[j] * v_rows[j * v_stride + d0];
    out[d0] = acc * inv_sum;
  }
}

}  // namespace

// q, out: [n_q, n_heads, head_dim]; k, v: [n_kv_pos, n_kv_heads, head_dim].
void attention(ThreadPool& pool, const float* q, int64_t n_q, int64_t pos0, const float* k,
               const float* v, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float scale,
               float* out, float* scratch) {
  const int64_t group = n_heads / n_kv_heads;
  const int64_t row_stride = n_kv_heads * head_dim;  // between cache rows
  const int64_t scratch_stride = (pos0 + n_q + 7) / 8 * 8;
  pool.parallel_ranges(n_q * n_heads, [&](int64_t begin, int64_t end, int thread) {
    float* scores = scratch + thread * scratch_stride;  // [pos0 + n_q]
    for (int64_t task = begin; task < end; ++task) {
      const int64_t i = task / n_heads;
      const int64_t h = task % n_heads;
      const int64_t kvh = h / group;
      const int64_t n_seen = pos0 + i + 1;
      const float* qi = q + (i * n_heads + h) * head_dim;
      const float max_s =
          scores_row(qi, k + kvh * head_dim, row_stride, n_seen, head_dim, scale, scores);
      const float sum = softmax_numerators(scores, n_seen, max_s);
      weighted_sum(scores, 1.0f / sum, v + kvh * head_dim, row_stride, n_seen, head_dim,
                   out + (i * n_heads + h) * head_dim);
    }
  });
}

}  // namespace qg::kernels::avx2
