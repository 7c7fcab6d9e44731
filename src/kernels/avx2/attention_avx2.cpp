// AVX2/FMA causal grouped-query attention. Must equal ref/reference.cpp to ~1e-5
// relative: same math (scores, stable softmax, weighted sum of V), different
// summation order and a vector exp (exp8, a few ulp).
//
// Work is split over (kv head, query) pairs (see attention() below for the order).
// Per pair, the group's query heads go two at a time: scores for the visible cache
// rows, 4 keys at a time (4 dot products share one horizontal reduction); softmax
// with the max subtracted; then out = Σ p_j v_j, accumulated in registers 32 dims at
// a time. Scratch holds kRows score rows per thread.
#include <algorithm>
#include <cmath>

#include "kernels/avx2/avx2_util.h"
#include "kernels/kernel_table.h"
#include "kernels/thread_pool.h"

namespace qg::kernels::avx2 {

// Query heads attended together (they share one kv head's K and V loads).
constexpr int64_t kRows = 2;

// Score rows of kRows query heads per thread, padded to whole vectors:
// [n_threads, kRows, round_up(n_kv_pos, 8)].
size_t attention_scratch_floats(int n_threads, int64_t n_q, int64_t n_kv_pos, int64_t n_heads) {
  return static_cast<size_t>(n_threads) * kRows * static_cast<size_t>((n_kv_pos + 7) / 8 * 8);
}

namespace {

// dot(a[d], b[d]) for head_dim-sized vectors; the tail loop handles d % 8.
inline float dot_f32(const float* a, const float* b, int64_t d) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= d; i += 8)
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
  float s = hsum(acc);
  for (; i < d; ++i) s += a[i] * b[i];
  return s;
}

inline float hmax4(__m128 m) {
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// Scores of R (1 or 2) query heads that share one kv head, against cache rows
// 0..n_seen-1: s[r][j] = (q_r · k_j) · scale. Two heads at once halve the K traffic;
// four keys at once share one horizontal reduction. Returns the row maxima.
//   q_r = q + r * head_dim; k_rows: row j at k_rows + j * k_stride; s[r] = scores + r * ld.
template <int R>
void scores_rows(const float* q, const float* k_rows, int64_t k_stride, int64_t n_seen,
                 int64_t head_dim, float scale, float* scores, int64_t ld, float* max_out) {
  const float* q0 = q;
  const float* q1 = q + (R > 1 ? head_dim : 0);
  float* s0 = scores;
  float* s1 = scores + (R > 1 ? ld : 0);
  __m128 m0 = _mm_set1_ps(-INFINITY), m1 = m0;
  const __m128 vscale = _mm_set1_ps(scale);
  int64_t j = 0;
  if (head_dim % 8 == 0) {
    for (; j + 4 <= n_seen; j += 4) {
      const float* k0 = k_rows + j * k_stride;
      const float* k1 = k0 + k_stride;
      const float* k2 = k1 + k_stride;
      const float* k3 = k2 + k_stride;
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
      for (int64_t d = 0; d < head_dim; d += 8) {
        const __m256 kv0 = _mm256_loadu_ps(k0 + d), kv1 = _mm256_loadu_ps(k1 + d);
        const __m256 kv2 = _mm256_loadu_ps(k2 + d), kv3 = _mm256_loadu_ps(k3 + d);
        const __m256 qa = _mm256_loadu_ps(q0 + d);
        a0 = _mm256_fmadd_ps(qa, kv0, a0);
        a1 = _mm256_fmadd_ps(qa, kv1, a1);
        a2 = _mm256_fmadd_ps(qa, kv2, a2);
        a3 = _mm256_fmadd_ps(qa, kv3, a3);
        if constexpr (R > 1) {
          const __m256 qb = _mm256_loadu_ps(q1 + d);
          b0 = _mm256_fmadd_ps(qb, kv0, b0);
          b1 = _mm256_fmadd_ps(qb, kv1, b1);
          b2 = _mm256_fmadd_ps(qb, kv2, b2);
          b3 = _mm256_fmadd_ps(qb, kv3, b3);
        }
      }
      const __m128 sa = _mm_mul_ps(hsum4(a0, a1, a2, a3), vscale);
      _mm_storeu_ps(s0 + j, sa);
      m0 = _mm_max_ps(m0, sa);
      if constexpr (R > 1) {
        const __m128 sb = _mm_mul_ps(hsum4(b0, b1, b2, b3), vscale);
        _mm_storeu_ps(s1 + j, sb);
        m1 = _mm_max_ps(m1, sb);
      }
    }
  }
  max_out[0] = hmax4(m0);
  if constexpr (R > 1) max_out[1] = hmax4(m1);
  for (; j < n_seen; ++j) {
    const float* kj = k_rows + j * k_stride;
    s0[j] = dot_f32(q0, kj, head_dim) * scale;
    max_out[0] = std::max(max_out[0], s0[j]);
    if constexpr (R > 1) {
      s1[j] = dot_f32(q1, kj, head_dim) * scale;
      max_out[1] = std::max(max_out[1], s1[j]);
    }
  }
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

// out_r[head_dim] = Σ_j p_r[j] · v_j · inv_sum[r] for R (1 or 2) rows sharing V.
//   p_r = p + r * ld; v_j at v_rows + j * v_stride; out_r = out + r * head_dim.
// Keys go in blocks of kKeyBlock: the 32-dim register tiles sweep a block's V rows
// (kKeyBlock × 512 B = 32 KB at head_dim 128) while it is in L1, instead of pulling
// every V row from L2 once per tile.
template <int R>
void weighted_sum(const float* p, int64_t ld, const float* inv_sum, const float* v_rows,
                  int64_t v_stride, int64_t n_seen, int64_t head_dim, float* out) {
  constexpr int64_t kKeyBlock = 64;
  const float* p0 = p;
  const float* p1 = p + (R > 1 ? ld : 0);
  const int64_t d_vec = head_dim / 32 * 32;
  for (int64_t j0 = 0; j0 < n_seen; j0 += kKeyBlock) {
    const int64_t j1 = std::min(n_seen, j0 + kKeyBlock);
    const bool last = j1 == n_seen;
    for (int64_t d0 = 0; d0 < d_vec; d0 += 32) {
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
      if (j0 > 0) {  // continue the sums of the previous key blocks, kept in out
        a0 = _mm256_loadu_ps(out + d0), a1 = _mm256_loadu_ps(out + d0 + 8);
        a2 = _mm256_loadu_ps(out + d0 + 16), a3 = _mm256_loadu_ps(out + d0 + 24);
        if constexpr (R > 1) {
          const float* o1 = out + head_dim + d0;
          b0 = _mm256_loadu_ps(o1), b1 = _mm256_loadu_ps(o1 + 8);
          b2 = _mm256_loadu_ps(o1 + 16), b3 = _mm256_loadu_ps(o1 + 24);
        }
      }
      for (int64_t j = j0; j < j1; ++j) {
        const float* vj = v_rows + j * v_stride + d0;
        const __m256 v0 = _mm256_loadu_ps(vj), v1 = _mm256_loadu_ps(vj + 8);
        const __m256 v2 = _mm256_loadu_ps(vj + 16), v3 = _mm256_loadu_ps(vj + 24);
        const __m256 pa = _mm256_broadcast_ss(p0 + j);
        a0 = _mm256_fmadd_ps(pa, v0, a0);
        a1 = _mm256_fmadd_ps(pa, v1, a1);
        a2 = _mm256_fmadd_ps(pa, v2, a2);
        a3 = _mm256_fmadd_ps(pa, v3, a3);
        if constexpr (R > 1) {
          const __m256 pb = _mm256_broadcast_ss(p1 + j);
          b0 = _mm256_fmadd_ps(pb, v0, b0);
          b1 = _mm256_fmadd_ps(pb, v1, b1);
          b2 = _mm256_fmadd_ps(pb, v2, b2);
          b3 = _mm256_fmadd_ps(pb, v3, b3);
        }
      }
      const __m256 sa = _mm256_set1_ps(last ? inv_sum[0] : 1.0f);
      _mm256_storeu_ps(out + d0, _mm256_mul_ps(a0, sa));
      _mm256_storeu_ps(out + d0 + 8, _mm256_mul_ps(a1, sa));
      _mm256_storeu_ps(out + d0 + 16, _mm256_mul_ps(a2, sa));
      _mm256_storeu_ps(out + d0 + 24, _mm256_mul_ps(a3, sa));
      if constexpr (R > 1) {
        const __m256 sb = _mm256_set1_ps(last ? inv_sum[1] : 1.0f);
        float* o1 = out + head_dim + d0;
        _mm256_storeu_ps(o1, _mm256_mul_ps(b0, sb));
        _mm256_storeu_ps(o1 + 8, _mm256_mul_ps(b1, sb));
        _mm256_storeu_ps(o1 + 16, _mm256_mul_ps(b2, sb));
        _mm256_storeu_ps(o1 + 24, _mm256_mul_ps(b3, sb));
      }
    }
  }
  for (int64_t d = d_vec; d < head_dim; ++d) {
    for (int r = 0; r < R; ++r) {
      const float* pr = p + r * ld;
      float acc = 0.0f;
      for (int64_t j = 0; j < n_seen; ++j) acc += pr[j] * v_rows[j * v_stride + d];
      out[r * head_dim + d] = acc * inv_sum[r];
    }
  }
}

// Query heads h .. h+R-1 (same kv head, adjacent in q and out) of one query row.
template <int R>
void attend_rows(const float* q, const float* k_rows, const float* v_rows, int64_t stride,
                 int64_t n_seen, int64_t head_dim, float scale, float* scores, int64_t ld,
                 float* out) {
  float max_s[R], inv_sum[R];
  scores_rows<R>(q, k_rows, stride, n_seen, head_dim, scale, scores, ld, max_s);
  for (int r = 0; r < R; ++r)
    inv_sum[r] = 1.0f / softmax_numerators(scores + r * ld, n_seen, max_s[r]);
  weighted_sum<R>(scores, ld, inv_sum, v_rows, stride, n_seen, head_dim, out);
}

}  // namespace

// q, out: [n_q, n_heads, head_dim]; k, v: [n_kv_pos, n_kv_heads, head_dim].
//
// Tasks are (kv head, query) pairs, kv-head-major, so a thread works through one kv
// head's K and V while they are in its L2, instead of cycling through all heads per
// query. Within a kv head the queries go in the order 0, n-1, 1, n-2, ...: causal rows
// grow with the position, and this makes the pool's contiguous slices carry about
// equal work.
//
// In the cache one kv head's rows are n_kv_heads · head_dim floats apart: 4 KB for
// 8 × 128, a power of two, so every row of a head falls into the same L1 set and a
// few L2 sets, and re-reading them thrashes. For prefill-sized calls each thread
// therefore first copies its kv head's K and V rows into contiguous per-thread memory
// (512 KB at 512 positions, a small cost next to the 2·group·n_q·n_kv·head_dim
// FMAs that then read them). Decode reads each row once, so it skips the copy.
void attention(ThreadPool& pool, const float* q, int64_t n_q, int64_t pos0, const float* k,
               const float* v, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float scale,
               float* out, float* scratch) {
  constexpr int64_t kRepackMinQueries = 8;
  const int64_t group = n_heads / n_kv_heads;
  const int64_t cache_stride = n_kv_heads * head_dim;  // between cache rows
  const int64_t n_kv = pos0 + n_q;                     // rows any query reads
  const int64_t ld = (n_kv + 7) / 8 * 8;               // between score rows
  const bool repack = n_q >= kRepackMinQueries && n_kv_heads > 1;
  pool.parallel_ranges(n_kv_heads * n_q, [&](int64_t begin, int64_t end, int thread) {
    float* scores = scratch + thread * kRows * ld;  // [kRows, ld]
    // [2, n_kv, head_dim]: this thread's copy of one kv head's K and V.
    float* packed = repack ? pool.thread_scratch(thread, 2 * n_kv * head_dim) : nullptr;
    int64_t packed_kvh = -1;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t kvh = task / n_q;
      const int64_t u = task % n_q;
      const int64_t i = (u % 2 == 0) ? u / 2 : n_q - 1 - u / 2;
      const int64_t n_seen = pos0 + i + 1;
      const float* k_rows = k + kvh * head_dim;
      const float* v_rows = v + kvh * head_dim;
      int64_t stride = cache_stride;
      if (repack) {
        float* pk = packed;                    // [n_kv, head_dim]
        float* pv = packed + n_kv * head_dim;  // [n_kv, head_dim]
        if (packed_kvh != kvh) {
          for (int64_t j = 0; j < n_kv; ++j) {
            std::copy_n(k_rows + j * cache_stride, head_dim, pk + j * head_dim);
            std::copy_n(v_rows + j * cache_stride, head_dim, pv + j * head_dim);
          }
          packed_kvh = kvh;
        }
        k_rows = pk;
        v_rows = pv;
        stride = head_dim;
      }
      int64_t h = kvh * group;
      for (; h + 2 <= (kvh + 1) * group; h += 2) {
        const int64_t off = (i * n_heads + h) * head_dim;
        attend_rows<2>(q + off, k_rows, v_rows, stride, n_seen, head_dim, scale, scores, ld,
                       out + off);
      }
      if (h < (kvh + 1) * group) {
        const int64_t off = (i * n_heads + h) * head_dim;
        attend_rows<1>(q + off, k_rows, v_rows, stride, n_seen, head_dim, scale, scores, ld,
                       out + off);
      }
    }
  });
}

}  // namespace qg::kernels::avx2
