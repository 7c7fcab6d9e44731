// AVX2/FMA versions of the per-row and element-wise kernels (RMSNorm, RoPE, SiLU·up,
// add) and the avx2 KernelTable. They are not the bottleneck (matmul is); they are
// vectorised where it is easy and must equal ref/reference.cpp to ~1e-5 relative.
// RoPE computes its angles with the same scalar formula as the reference
// (cos/sin of (float)pos · inv_freq[j]), so both paths rotate by identical values.
#include <algorithm>
#include <cmath>

#include "kernels/avx2/avx2_util.h"
#include "kernels/kernel_table.h"
#include "kernels/thread_pool.h"

namespace qg::kernels::avx2 {

void matmul(ThreadPool& pool, const MatRef& w, const float* x, int64_t n, float* y);
void matmul_multi(ThreadPool& pool, const MatRef* ws, int64_t n_w, const float* x, int64_t n,
                  float* const* ys);
void matmul_rows(ThreadPool& pool, const MatRef& w, const int32_t* rows, int64_t n_rows,
                 const float* x, int64_t n, float* y);
void attention(ThreadPool& pool, const float* q, int64_t n_q, int64_t pos0, const float* k,
               const float* v, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float scale,
               float* out, float* scratch);
size_t attention_scratch_floats(int n_threads, int64_t n_q, int64_t n_kv_pos, int64_t n_heads);
// avx2/paged_avx2.cpp
void attention_paged(ThreadPool& pool, const float* q, int64_t n_q, int64_t pos0, const PagedKv& kv,
                     int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float scale, float* out,
                     float* scratch);
size_t attention_paged_scratch_floats(int n_threads, int64_t n_q, int64_t n_pos, int64_t n_heads,
                                      int64_t head_dim);
void kv_store(ThreadPool& pool, const float* rows, int64_t n, int64_t row_elems, int64_t pos0,
              void* base, const PagedKv& kv);

namespace {

// Element-wise work is split into chunks this long; a decode-sized call (one chunk)
// runs on the calling thread without waking the pool.
constexpr int64_t kChunk = 8192;

// x, y: [n, d]; weight: [d]. x may alias y.
void rmsnorm(ThreadPool& pool, const float* x, const float* weight, int64_t n, int64_t d, float eps,
             float* y) {
  auto one_row = [&](int64_t i) {
    const float* xi = x + i * d;
    float* yi = y + i * d;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 16 <= d; j += 16) {
      const __m256 a = _mm256_loadu_ps(xi + j), b = _mm256_loadu_ps(xi + j + 8);
      acc0 = _mm256_fmadd_ps(a, a, acc0);
      acc1 = _mm256_fmadd_ps(b, b, acc1);
    }
    float sum_sq = hsum(_mm256_add_ps(acc0, acc1));
    for (; j < d; ++j) sum_sq += xi[j] * xi[j];
    const float inv_rms = 1.0f / std::sqrt(sum_sq / static_cast<float>(d) + eps);
    const __m256 s = _mm256_set1_ps(inv_rms);
    j = 0;
    for (; j + 8 <= d; j += 8) {
      const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(xi + j), s);
      _mm256_storeu_ps(yi + j, _mm256_mul_ps(v, _mm256_loadu_ps(weight + j)));
    }
    for (; j < d; ++j) yi[j] = (xi[j] * inv_rms) * weight[j];
  };
  pool.parallel_for(n, one_row, std::max<int64_t>(1, kChunk / d));  // >= kChunk floats a slice
}

// x: [n, n_heads, head_dim] rotated in place (rotate-half form, see ref).
void rope(ThreadPool& pool, float* x, int64_t n, int64_t n_heads, int64_t head_dim,
          const int32_t* pos, const float* inv_freq) {
  constexpr int64_t kMaxHalf = kRopeMaxHeadDim / 2;  // dispatch.cpp checks head_dim
  const int64_t half = head_dim / 2;
  auto one_token = [&](int64_t i) {
    alignas(32) float cs[kMaxHalf], sn[kMaxHalf];  // cos, sin of this token's angles
    const float p = static_cast<float>(pos[i]);
    for (int64_t j = 0; j < half; ++j) {
      const float angle = p * inv_freq[j];
      cs[j] = std::cos(angle);
      sn[j] = std::sin(angle);
    }
    for (int64_t h = 0; h < n_heads; ++h) {
      float* x1 = x + (i * n_heads + h) * head_dim;  // [half]
      float* x2 = x1 + half;                         // [half]
      int64_t j = 0;
      for (; j + 8 <= half; j += 8) {
        const __m256 a = _mm256_loadu_ps(x1 + j), b = _mm256_loadu_ps(x2 + j);
        const __m256 c = _mm256_load_ps(cs + j), s = _mm256_load_ps(sn + j);
        _mm256_storeu_ps(x1 + j, _mm256_sub_ps(_mm256_mul_ps(a, c), _mm256_mul_ps(b, s)));
        _mm256_storeu_ps(x2 + j, _mm256_add_ps(_mm256_mul_ps(b, c), _mm256_mul_ps(a, s)));
      }
      for (; j < half; ++j) {
        const float a = x1[j], b = x2[j];
        x1[j] = a * cs[j] - b * sn[j];
        x2[j] = b * cs[j] + a * sn[j];
      }
    }
  };
  pool.parallel_for(n, one_token, 2);
}

// y = silu(gate) * up = gate / (1 + e^-gate) * up. y may alias gate.
void silu_mul(ThreadPool& pool, const float* gate, const float* up, int64_t count, float* y) {
  pool.parallel_for((count + kChunk - 1) / kChunk, [&](int64_t c) {
    const int64_t end = std::min(count, (c + 1) * kChunk);
    int64_t i = c * kChunk;
    const __m256 one = _mm256_set1_ps(1.0f);
    for (; i + 8 <= end; i += 8) {
      const __m256 g = _mm256_loadu_ps(gate + i);
      const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
      const __m256 s = _mm256_div_ps(g, _mm256_add_ps(one, e));
      _mm256_storeu_ps(y + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
    }
    if (i < end) {
      // The tail goes through the same vector formula (masked): an element's value must not
      // depend on where a chunk or the call ends (batch invariance; std::exp would differ).
      const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
      const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(end - i)), idx);
      const __m256 g = _mm256_maskload_ps(gate + i, mask);
      const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
      const __m256 s = _mm256_div_ps(g, _mm256_add_ps(one, e));
      _mm256_maskstore_ps(y + i, mask, _mm256_mul_ps(s, _mm256_maskload_ps(up + i, mask)));
    }
  });
}

void add(ThreadPool& pool, const float* a, const float* b, int64_t count, float* y) {
  pool.parallel_for((count + kChunk - 1) / kChunk, [&](int64_t c) {
    const int64_t end = std::min(count, (c + 1) * kChunk);
    int64_t i = c * kChunk;
    for (; i + 8 <= end; i += 8) {
      _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    }
    for (; i < end; ++i) y[i] = a[i] + b[i];
  });
}

}  // namespace
}  // namespace qg::kernels::avx2

namespace qg::kernels {

const KernelTable& avx2_table() {
  static constexpr KernelTable table = {
      Isa::kAvx2,    avx2::matmul,    avx2::matmul_multi, avx2::matmul_rows,
      avx2::rmsnorm, avx2::rope,      avx2::silu_mul,
      avx2::add,     avx2::attention, avx2::attention_scratch_floats,
      avx2::attention_paged, avx2::attention_paged_scratch_floats, avx2::kv_store,
  };
  return table;
}

}  // namespace qg::kernels
