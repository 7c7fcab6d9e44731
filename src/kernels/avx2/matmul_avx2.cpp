// AVX2/FMA matmul entry point and its memory-bound half: the GEMV used for decode
// (n = 1 .. kGemvMaxN tokens). Must equal ref::matmul to ~1e-5 relative (only the
// summation order differs). Compute-bound prefill (n > kGemvMaxN) goes to
// gemm_avx2.cpp, which widens each weight panel once and reuses it across tokens.
//
// GEMV: W is streamed once, 4 rows at a time, 16 columns per step (8 independent FMA
// chains: enough to cover FMA latency, and 4 sequential streams the hardware
// prefetcher follows). A 4-row block of a 3072-column bf16 matrix is 24 KB, so with
// 2..kGemvMaxN tokens the block is re-read from L1, not from memory. Threads split
// the rows; each thread's rows are contiguous so its streams stay sequential.
#include "kernels/avx2/avx2_util.h"
#include "kernels/kernel_table.h"
#include "kernels/thread_pool.h"

namespace qg::kernels::avx2 {

// GEMM entry (gemm_avx2.cpp): y[n, w.rows] = x[n, w.cols] · wᵀ for larger n.
void gemm(ThreadPool& pool, const MatRef& w, const float* x, int64_t n, float* y);

namespace {

// Above this many tokens packing W (gemm) pays off over re-reading it per token.
constexpr int64_t kGemvMaxN = 3;

// Rows [r, r+4) of w against one token x[cols]: writes y[r .. r+4).
template <DType D>
inline void gemv_4rows(const MatRef& w, int64_t r, const float* x, float* y) {
  const int64_t cols = w.cols;
  const int64_t i0 = r * cols, i1 = i0 + cols, i2 = i1 + cols, i3 = i2 + cols;
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
  __m256 b2 = _mm256_setzero_ps(), b3 = _mm256_setzero_ps();
  int64_t c = 0;
  for (; c + 16 <= cols; c += 16) {
    const __m256 x0 = _mm256_loadu_ps(x + c);
    const __m256 x1 = _mm256_loadu_ps(x + c + 8);
    a0 = _mm256_fmadd_ps(load8<D>(w.data, i0 + c), x0, a0);
    a1 = _mm256_fmadd_ps(load8<D>(w.data, i1 + c), x0, a1);
    a2 = _mm256_fmadd_ps(load8<D>(w.data, i2 + c), x0, a2);
    a3 = _mm256_fmadd_ps(load8<D>(w.data, i3 + c), x0, a3);
    b0 = _mm256_fmadd_ps(load8<D>(w.data, i0 + c + 8), x1, b0);
    b1 = _mm256_fmadd_ps(load8<D>(w.data, i1 + c + 8), x1, b1);
    b2 = _mm256_fmadd_ps(load8<D>(w.data, i2 + c + 8), x1, b2);
    b3 = _mm256_fmadd_ps(load8<D>(w.data, i3 + c + 8), x1, b3);
  }
  if (c + 8 <= cols) {
    const __m256 x0 = _mm256_loadu_ps(x + c);
    a0 = _mm256_fmadd_ps(load8<D>(w.data, i0 + c), x0, a0);
    a1 = _mm256_fmadd_ps(load8<D>(w.data, i1 + c), x0, a1);
    a2 = _mm256_fmadd_ps(load8<D>(w.data, i2 + c), x0, a2);
    a3 = _mm256_fmadd_ps(load8<D>(w.data, i3 + c), x0, a3);
    c += 8;
  }
  __m128 s = hsum4(_mm256_add_ps(a0, b0), _mm256_add_ps(a1, b1), _mm256_add_ps(a2, b2),
                   _mm256_add_ps(a3, b3));
  alignas(16) float out[4];
  _mm_store_ps(out, s);
  for (; c < cols; ++c) {
    out[0] += x[c] * load1<D>(w.data, i0 + c);
    out[1] += x[c] * load1<D>(w.data, i1 + c);
    out[2] += x[c] * load1<D>(w.data, i2 + c);
    out[3] += x[c] * load1<D>(w.data, i3 + c);
  }
  for (int j = 0; j < 4; ++j) y[r + j] = out[j];
}

// Tasks are blocks of 4 rows (the last may be shorter); each token's outputs y[t, :].
template <DType D>
void gemv(ThreadPool& pool, const MatRef& w, const float* x, int64_t n, float* y) {
  const int64_t rows = w.rows, cols = w.cols;
  pool.parallel_ranges((rows + 3) / 4, [&](int64_t b0, int64_t b1, int) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t r = b * 4;
      for (int64_t t = 0; t < n; ++t) {
        const float* xt = x + t * cols;  // [cols]
        float* yt = y + t * rows;        // [rows]
        if (r + 4 <= rows) {
          gemv_4rows<D>(w, r, xt, yt);
        } else {
          for (int64_t rr = r; rr < rows; ++rr) yt[rr] = dot<D>(xt, w.data, rr * cols, cols);
        }
      }
    }
  });
}

template <DType D>
void matmul_rows_t(ThreadPool& pool, const MatRef& w, const int32_t* rows, int64_t n_rows,
                   const float* x, int64_t n, float* y) {
  pool.parallel_for(n_rows, [&](int64_t i) {
    for (int64_t t = 0; t < n; ++t) {
      y[t * n_rows + i] = dot<D>(x + t * w.cols, w.data, int64_t{rows[i]} * w.cols, w.cols);
    }
  });
}

}  // namespace

void matmul(ThreadPool& pool, const MatRef& w, const float* x, int64_t n, float* y) {
  if (n > kGemvMaxN) return gemm(pool, w, x, n, y);
  switch (w.dtype) {
    case DType::kF32: return gemv<DType::kF32>(pool, w, x, n, y);
    case DType::kF16: return gemv<DType::kF16>(pool, w, x, n, y);
    case DType::kBF16: return gemv<DType::kBF16>(pool, w, x, n, y);
  }
}

void matmul_rows(ThreadPool& pool, const MatRef& w, const int32_t* rows, int64_t n_rows,
                 const float* x, int64_t n, float* y) {
  switch (w.dtype) {
    case DType::kF32: return matmul_rows_t<DType::kF32>(pool, w, rows, n_rows, x, n, y);
    case DType::kF16: return matmul_rows_t<DType::kF16>(pool, w, rows, n_rows, x, n, y);
    case DType::kBF16: return matmul_rows_t<DType::kBF16>(pool, w, rows, n_rows, x, n, y);
  }
}

}  // namespace qg::kernels::avx2
