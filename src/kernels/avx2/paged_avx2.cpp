// AVX2/FMA paged-cache kernels: attention_paged and kv_store (kernels.h). Must equal
// ref/paged_ref.cpp to ~1e-5 relative and be batch-invariant bitwise by itself.
//
// The canonical order (per query i at position p = pos0+i, per query head h):
//   keys are visited in tiles of kKeyTile positions starting at multiples of kKeyTile
//   (absolute positions, not relative to pos0), tile after tile, 0 upwards; the last
//   tile is cut at p. For each tile, an online-softmax step:
//     s_j   = dot(q, k_j) · scale   (8-lane FMA over d, 4 keys share one hsum4; a key
//                                    group past the cut reuses the last key, discarded)
//     m'    = max(m, max_j s_j);  α = exp(m − m');  e_j = exp(s_j − m')  (exp8)
//     l     = l·α + Σ_j e_j       (4 vectors of 8 summed in a fixed order, then hsum)
//     acc_d = acc_d·α, then acc_d += e_j·v_j[d] for j ascending (one FMA each)
//   out = acc · (1/l).
// Every operation depends only on the query, on p and on the rows it sees: not on n_q,
// pos0, the query block, the thread or the dtype conversion (f16 → f32 is exact). So
// query i's output is bitwise the same under any chunking of the sequence.
//
// Work: units of (kv head, block of kQBlock queries). A unit walks the key tiles once;
// each tile's K/V rows (copied to a contiguous f32 tile once per unit, widened from f16
// for an f16 cache) serve every query and every head of the GQA group in the block, so prefill
// reads each kv head's cache n_q/kQBlock times instead of n_q·group times. No score row
// longer than a tile is ever materialised: per query head the state is m, l and
// acc[head_dim], in scratch.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/avx2/avx2_util.h"
#include "kernels/kernel_table.h"
#include "kernels/thread_pool.h"

namespace qg::kernels::avx2 {
namespace {

constexpr int64_t kKeyTile = 32;  // keys per online-softmax step (4 vectors of scores)
constexpr int64_t kQBlock = 32;   // queries per unit

int64_t round8(int64_t n) { return (n + 7) / 8 * 8; }

// Per-thread scratch layout, in floats (each part a multiple of 8 floats, 32-byte aligned
// if the base is): acc [qb·n_heads, hd8], m [qb·n_heads], l [qb·n_heads], kt/vt [kKeyTile, hd].
struct Layout {
  int64_t hd8, states, acc, m, l, kt, vt, total;
  Layout(int64_t qb, int64_t n_heads, int64_t head_dim) {
    hd8 = round8(head_dim);
    states = qb * n_heads;
    acc = 0;
    m = acc + states * hd8;
    l = m + round8(states);
    kt = l + round8(states);
    vt = kt + kKeyTile * hd8;
    total = vt + kKeyTile * hd8;
  }
};

// One online-softmax step of R (1 or 2) query heads of one kv head over `cnt`
// (1..kKeyTile) keys. Two heads share every K and V load; each head's arithmetic is
// exactly what it would be alone (the lanes never mix), so pairing changes no bits.
//   q[r]: [head_dim]; kr[j], vr[j]: key/value rows (f32); acc[r]: [head_dim]; m[r], l[r]: state.
template <int R>
void tile_step(const float* const* q, const float* const* kr, const float* const* vr, int64_t cnt,
               int64_t head_dim, float scale, float* const* acc, float* const* m, float* const* l) {
  alignas(32) float s[R][kKeyTile];
  const int64_t d_vec = head_dim / 8 * 8;
  for (int64_t j = 0; j < cnt; j += 4) {
    const float* k0 = kr[j];
    const float* k1 = kr[std::min(j + 1, cnt - 1)];
    const float* k2 = kr[std::min(j + 2, cnt - 1)];
    const float* k3 = kr[std::min(j + 3, cnt - 1)];
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    for (int64_t d = 0; d < d_vec; d += 8) {
      const __m256 kv0 = _mm256_loadu_ps(k0 + d), kv1 = _mm256_loadu_ps(k1 + d);
      const __m256 kv2 = _mm256_loadu_ps(k2 + d), kv3 = _mm256_loadu_ps(k3 + d);
      const __m256 qa = _mm256_loadu_ps(q[0] + d);
      a0 = _mm256_fmadd_ps(qa, kv0, a0);
      a1 = _mm256_fmadd_ps(qa, kv1, a1);
      a2 = _mm256_fmadd_ps(qa, kv2, a2);
      a3 = _mm256_fmadd_ps(qa, kv3, a3);
      if constexpr (R > 1) {
        const __m256 qb = _mm256_loadu_ps(q[1] + d);
        b0 = _mm256_fmadd_ps(qb, kv0, b0);
        b1 = _mm256_fmadd_ps(qb, kv1, b1);
        b2 = _mm256_fmadd_ps(qb, kv2, b2);
        b3 = _mm256_fmadd_ps(qb, kv3, b3);
      }
    }
    for (int r = 0; r < R; ++r) {
      alignas(16) float t[4];
      _mm_store_ps(t, r == 0 ? hsum4(a0, a1, a2, a3) : hsum4(b0, b1, b2, b3));
      const float* qr = q[r];
      for (int64_t d = d_vec; d < head_dim; ++d) {
        t[0] = std::fma(qr[d], k0[d], t[0]);
        t[1] = std::fma(qr[d], k1[d], t[1]);
        t[2] = std::fma(qr[d], k2[d], t[2]);
        t[3] = std::fma(qr[d], k3[d], t[3]);
      }
      for (int u = 0; u < 4; ++u) s[r][j + u] = t[u] * scale;  // s[r][cnt..] is masked below
    }
  }
  // Per head: scores past cnt become -inf (exp gives exactly 0, the max ignores them),
  // then the new max, the rescale factor α, the probabilities and l.
  float alpha[R];
  for (int r = 0; r < R; ++r) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 sv[4];
    for (int g = 0; g < 4; ++g) {
      const __m256i idx = _mm256_add_epi32(_mm256_set1_epi32(8 * g),
                                           _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
      const __m256 live =
          _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(cnt)), idx));
      sv[g] = _mm256_blendv_ps(ninf, _mm256_load_ps(s[r] + 8 * g), live);
    }
    const __m256 mx = _mm256_max_ps(_mm256_max_ps(sv[0], sv[1]), _mm256_max_ps(sv[2], sv[3]));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float m_new = std::max(*m[r], _mm_cvtss_f32(m4));
    const __m256 mv = _mm256_set1_ps(m_new);
    alpha[r] = _mm256_cvtss_f32(exp8(_mm256_set1_ps(*m[r] - m_new)));
    __m256 e[4];
    for (int g = 0; g < 4; ++g) {
      e[g] = exp8(_mm256_sub_ps(sv[g], mv));
      _mm256_store_ps(s[r] + 8 * g, e[g]);
    }
    const float tile_sum =
        hsum(_mm256_add_ps(_mm256_add_ps(e[0], e[1]), _mm256_add_ps(e[2], e[3])));
    *l[r] = std::fma(*l[r], alpha[r], tile_sum);
    *m[r] = m_new;
  }

  // acc = acc·α + Σ_j e_j v_j, 32 dims at a time in registers, j ascending.
  const __m256 av = _mm256_set1_ps(alpha[0]);
  const __m256 bv = _mm256_set1_ps(alpha[R - 1]);
  float* acc0 = acc[0];
  float* acc1 = acc[R - 1];
  int64_t d0 = 0;
  for (; d0 + 32 <= d_vec; d0 += 32) {
    __m256 c0 = _mm256_mul_ps(_mm256_loadu_ps(acc0 + d0), av);
    __m256 c1 = _mm256_mul_ps(_mm256_loadu_ps(acc0 + d0 + 8), av);
    __m256 c2 = _mm256_mul_ps(_mm256_loadu_ps(acc0 + d0 + 16), av);
    __m256 c3 = _mm256_mul_ps(_mm256_loadu_ps(acc0 + d0 + 24), av);
    __m256 e0 = c0, e1 = c1, e2 = c2, e3 = c3;
    if constexpr (R > 1) {
      e0 = _mm256_mul_ps(_mm256_loadu_ps(acc1 + d0), bv);
      e1 = _mm256_mul_ps(_mm256_loadu_ps(acc1 + d0 + 8), bv);
      e2 = _mm256_mul_ps(_mm256_loadu_ps(acc1 + d0 + 16), bv);
      e3 = _mm256_mul_ps(_mm256_loadu_ps(acc1 + d0 + 24), bv);
    }
    for (int64_t j = 0; j < cnt; ++j) {
      const float* vj = vr[j] + d0;
      const __m256 v0 = _mm256_loadu_ps(vj), v1 = _mm256_loadu_ps(vj + 8);
      const __m256 v2 = _mm256_loadu_ps(vj + 16), v3 = _mm256_loadu_ps(vj + 24);
      const __m256 p = _mm256_broadcast_ss(s[0] + j);
      c0 = _mm256_fmadd_ps(p, v0, c0);
      c1 = _mm256_fmadd_ps(p, v1, c1);
      c2 = _mm256_fmadd_ps(p, v2, c2);
      c3 = _mm256_fmadd_ps(p, v3, c3);
      if constexpr (R > 1) {
        const __m256 pb = _mm256_broadcast_ss(s[R - 1] + j);
        e0 = _mm256_fmadd_ps(pb, v0, e0);
        e1 = _mm256_fmadd_ps(pb, v1, e1);
        e2 = _mm256_fmadd_ps(pb, v2, e2);
        e3 = _mm256_fmadd_ps(pb, v3, e3);
      }
    }
    _mm256_storeu_ps(acc0 + d0, c0);
    _mm256_storeu_ps(acc0 + d0 + 8, c1);
    _mm256_storeu_ps(acc0 + d0 + 16, c2);
    _mm256_storeu_ps(acc0 + d0 + 24, c3);
    if constexpr (R > 1) {
      _mm256_storeu_ps(acc1 + d0, e0);
      _mm256_storeu_ps(acc1 + d0 + 8, e1);
      _mm256_storeu_ps(acc1 + d0 + 16, e2);
      _mm256_storeu_ps(acc1 + d0 + 24, e3);
    }
  }
  for (int r = 0; r < R; ++r) {
    const __m256 ar = _mm256_set1_ps(alpha[r]);
    for (int64_t d = d0; d < d_vec; d += 8) {
      __m256 c = _mm256_mul_ps(_mm256_loadu_ps(acc[r] + d), ar);
      for (int64_t j = 0; j < cnt; ++j) {
        c = _mm256_fmadd_ps(_mm256_broadcast_ss(s[r] + j), _mm256_loadu_ps(vr[j] + d), c);
      }
      _mm256_storeu_ps(acc[r] + d, c);
    }
    for (int64_t d = d_vec; d < head_dim; ++d) {
      float c = acc[r][d] * alpha[r];
      for (int64_t j = 0; j < cnt; ++j) c = std::fma(s[r][j], vr[j][d], c);
      acc[r][d] = c;
    }
  }
}

// Widens n f16 values to f32 (exact).
void widen_f16(const uint16_t* src, int64_t n, float* dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  }
  for (; i < n; ++i) dst[i] = _cvtsh_ss(src[i]);
}

}  // namespace

size_t attention_paged_scratch_floats(int n_threads, int64_t n_q, int64_t n_pos, int64_t n_heads,
                                      int64_t head_dim) {
  const Layout lay(std::min(n_q, kQBlock), n_heads, head_dim);
  return static_cast<size_t>(n_threads) * static_cast<size_t>(lay.total + 8);
}

// q, out: [n_q, n_heads, head_dim]; kv: blocks of [block_tokens, n_kv_heads, head_dim].
void attention_paged(ThreadPool& pool, const float* q, int64_t n_q, int64_t pos0, const PagedKv& kv,
                     int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float scale, float* out,
                     float* scratch) {
  const int64_t group = n_heads / n_kv_heads;
  const int64_t row_elems = n_kv_heads * head_dim;
  const int64_t qb = std::min(n_q, kQBlock);
  const int64_t n_qblocks = (n_q + qb - 1) / qb;
  const Layout lay(qb, n_heads, head_dim);
  const bool f16 = kv.dtype == DType::kF16;
  // Units are kv-head-major; within a kv head the query blocks go 0, last, 1, last-1, ...
  // so that contiguous slices of the pool carry about equal causal work.
  pool.parallel_ranges(n_kv_heads * n_qblocks, [&](int64_t begin, int64_t end, int thread) {
    float* base = scratch + thread * (lay.total + 8);
    base += ((32 - reinterpret_cast<uintptr_t>(base) % 32) % 32) / sizeof(float);
    float* acc = base + lay.acc;  // [qb * group, hd8]
    float* ms = base + lay.m;     // [qb * group]
    float* ls = base + lay.l;     // [qb * group]
    const float* kr[kKeyTile];
    const float* vr[kKeyTile];
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t kvh = unit / n_qblocks;
      const int64_t u = unit % n_qblocks;
      const int64_t b = (u % 2 == 0) ? u / 2 : n_qblocks - 1 - u / 2;
      const int64_t i0 = b * qb, i1 = std::min(n_q, i0 + qb);
      const int64_t n_states = (i1 - i0) * group;
      std::fill_n(acc, n_states * lay.hd8, 0.0f);
      std::fill_n(ms, n_states, -INFINITY);
      std::fill_n(ls, n_states, 0.0f);
      const int64_t n_seen_max = pos0 + i1;
      for (int64_t j0 = 0; j0 < n_seen_max; j0 += kKeyTile) {
        const int64_t cnt_max = std::min(kKeyTile, n_seen_max - j0);
        // The rows of one kv head are short runs (head_dim elements) at a large stride,
        // which the hardware prefetcher follows poorly: fetch the next tile's into L2.
        const int64_t next_end = std::min(n_seen_max, j0 + 2 * kKeyTile);
        const int64_t row_bytes = head_dim * static_cast<int64_t>(dtype_size(kv.dtype));
        for (int64_t pos = j0 + kKeyTile; pos < next_end; ++pos) {
          const int64_t off = kv.blocks[pos / kv.block_tokens] * kv.block_stride +
                              (pos % kv.block_tokens) * row_elems + kvh * head_dim;
          const char* kp = static_cast<const char*>(kv.k) + off * (f16 ? 2 : 4);
          const char* vp = static_cast<const char*>(kv.v) + off * (f16 ? 2 : 4);
          for (int64_t byte = 0; byte < row_bytes; byte += 64) {
            _mm_prefetch(kp + byte, _MM_HINT_T1);
            _mm_prefetch(vp + byte, _MM_HINT_T1);
          }
        }
        for (int64_t j = 0; j < cnt_max; ++j) {
          const int64_t pos = j0 + j;
          const int64_t off = kv.blocks[pos / kv.block_tokens] * kv.block_stride +
                              (pos % kv.block_tokens) * row_elems + kvh * head_dim;
          // Copied to a contiguous tile even for f32: in the pool one head's rows are
          // n_kv_heads·head_dim floats apart (4 KB for 8 × 128, a power of two), which maps
          // them all to the same cache sets; read in place they evict each other.
          float* kd = base + lay.kt + j * lay.hd8;
          float* vd = base + lay.vt + j * lay.hd8;
          if (f16) {
            widen_f16(static_cast<const uint16_t*>(kv.k) + off, head_dim, kd);
            widen_f16(static_cast<const uint16_t*>(kv.v) + off, head_dim, vd);
          } else {
            std::memcpy(kd, static_cast<const float*>(kv.k) + off, head_dim * sizeof(float));
            std::memcpy(vd, static_cast<const float*>(kv.v) + off, head_dim * sizeof(float));
          }
          kr[j] = kd;
          vr[j] = vd;
        }
        for (int64_t i = i0; i < i1; ++i) {
          const int64_t cnt = std::min(cnt_max, pos0 + i + 1 - j0);
          if (cnt <= 0) continue;
          for (int64_t g = 0; g < group;) {
            const int r = group - g >= 2 ? 2 : 1;  // heads g, g+1 together when both exist
            const float* qp[2];
            float* ap[2];
            float* mp[2];
            float* lp[2];
            for (int e = 0; e < r; ++e) {
              const int64_t st = (i - i0) * group + g + e;
              qp[e] = q + (i * n_heads + kvh * group + g + e) * head_dim;
              ap[e] = acc + st * lay.hd8;
              mp[e] = ms + st;
              lp[e] = ls + st;
            }
            if (r == 2) {
              tile_step<2>(qp, kr, vr, cnt, head_dim, scale, ap, mp, lp);
            } else {
              tile_step<1>(qp, kr, vr, cnt, head_dim, scale, ap, mp, lp);
            }
            g += r;
          }
        }
      }
      for (int64_t i = i0; i < i1; ++i) {
        for (int64_t g = 0; g < group; ++g) {
          const int64_t st = (i - i0) * group + g;
          const float inv = 1.0f / ls[st];
          float* o = out + (i * n_heads + kvh * group + g) * head_dim;  // [head_dim]
          const float* a = acc + st * lay.hd8;
          for (int64_t d = 0; d < head_dim; ++d) o[d] = a[d] * inv;
        }
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
      int64_t e = 0;
      for (; e + 8 <= row_elems; e += 8) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + e),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + e), _MM_FROUND_TO_NEAREST_INT));
      }
      for (; e < row_elems; ++e) {
        dst[e] = static_cast<uint16_t>(
            _mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(src[e]), _MM_FROUND_TO_NEAREST_INT), 0));
      }
    } else {
      std::memcpy(static_cast<float*>(base) + off, src, static_cast<size_t>(row_elems) * 4);
    }
  }
}

}  // namespace qg::kernels::avx2
