// AVX2/FMA matmul and matmul_rows. Must equal ref::matmul to ~1e-5 relative (only
// the summation order differs). Two regimes:
//
// GEMV, n <= kGemvMaxN (decode): memory-bound. W is streamed once, 4 rows at a time,
// 16 columns per step (8 independent FMA chains: enough to cover FMA latency; 4
// sequential streams, prefetched a little ahead). A 4-row block of a 3072-column bf16
// matrix is 24 KB, so with 2..kGemvMaxN tokens the block is re-read from L1, not from
// memory. Threads split the rows; each thread's rows are contiguous.
//
// GEMM, n > kGemvMaxN (prefill): compute-bound.
// Blocking (BLIS-style, adapted to W being [rows, K] with K contiguous):
//   * W is cut into panels of kMr = 16 rows. A thread owns a contiguous range of
//     panels (threads never share outputs, so no reduction is needed).
//   * For up to kMcPanels panels × kKc columns at a time, the bf16/f16/f32 weights are
//     widened to f32 once and packed transposed, [kc][16] per panel, into a 64 KB
//     stack buffer that stays in L2. That is the only place the dtype matters.
//   * The micro-kernel multiplies one packed panel by kNr = 6 tokens: 12 ymm
//     accumulators (16 rows × 6 tokens), per k two vector loads of W and six
//     broadcasts of x, 12 FMAs. The x tile [6, kc] (6 KB) stays in L1 while it
//     sweeps the packed panels.
//   * Partial sums over kKc blocks are added into y (first block stores).
#include <algorithm>

#include "kernels/avx2/avx2_util.h"
#include "kernels/kernel_table.h"
#include "kernels/thread_pool.h"

namespace qg::kernels::avx2 {
namespace {

// Above this many tokens packing W (gemm) pays off over re-reading it per token.
constexpr int64_t kGemvMaxN = 3;
// Work of fewer weights than this per slice runs on the calling thread: waking a
// worker costs more than it saves.
constexpr int64_t kMinSliceWeights = 32768;
constexpr int64_t kPrefetchBytes = 512;  // ahead of each row's stream; measured, modest gain

// ---- GEMV (decode) ----

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
    if constexpr (D != DType::kF32) {
      if ((c & 31) == 0) {
        _mm_prefetch(static_cast<const char*>(w.data) + 2 * (i0 + c) + kPrefetchBytes, _MM_HINT_T0);
        _mm_prefetch(static_cast<const char*>(w.data) + 2 * (i1 + c) + kPrefetchBytes, _MM_HINT_T0);
        _mm_prefetch(static_cast<const char*>(w.data) + 2 * (i2 + c) + kPrefetchBytes, _MM_HINT_T0);
        _mm_prefetch(static_cast<const char*>(w.data) + 2 * (i3 + c) + kPrefetchBytes, _MM_HINT_T0);
      }
    }
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
  auto blocks = [&](int64_t b0, int64_t b1, int) {
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
  };
  const int64_t grain = kMinSliceWeights / std::max<int64_t>(1, 4 * cols * n);
  pool.parallel_ranges((rows + 3) / 4, blocks, grain);
}

template <DType D>
void matmul_rows_t(ThreadPool& pool, const MatRef& w, const int32_t* rows, int64_t n_rows,
                   const float* x, int64_t n, float* y) {
  auto one_row = [&](int64_t i) {
    const int64_t off = int64_t{rows[i]} * w.cols;
    for (int64_t t = 0; t < n; ++t) y[t * n_rows + i] = dot<D>(x + t * w.cols, w.data, off, w.cols);
  };
  pool.parallel_for(n_rows, one_row, kMinSliceWeights / std::max<int64_t>(1, w.cols * n));
}

// ---- GEMM (prefill) ----

constexpr int kMr = 16;           // W rows per packed panel (two ymm)
constexpr int kNr = 6;            // tokens per micro-kernel call
constexpr int64_t kKc = 256;      // columns of W per packed block
constexpr int64_t kMcPanels = 4;  // panels packed together (4 × 16 × 256 × 4 B = 64 KB)

// In-register transpose of 8 rows of 8 floats.
inline void transpose8(__m256& r0, __m256& r1, __m256& r2, __m256& r3, __m256& r4, __m256& r5,
                       __m256& r6, __m256& r7) {
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  r0 = _mm256_permute2f128_ps(s0, s4, 0x20);
  r1 = _mm256_permute2f128_ps(s1, s5, 0x20);
  r2 = _mm256_permute2f128_ps(s2, s6, 0x20);
  r3 = _mm256_permute2f128_ps(s3, s7, 0x20);
  r4 = _mm256_permute2f128_ps(s0, s4, 0x31);
  r5 = _mm256_permute2f128_ps(s1, s5, 0x31);
  r6 = _mm256_permute2f128_ps(s2, s6, 0x31);
  r7 = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// Packs W[r0 .. r0+valid, k0 .. k0+kc) widened to f32 as dst[kc][16] (row index
// fastest); rows valid..15 are zero so the micro-kernel needs no row tail.
template <DType D>
void pack_panel(const MatRef& w, int64_t r0, int valid, int64_t k0, int64_t kc, float* dst) {
  const int64_t K = w.cols;
  int64_t k = 0;
  if (valid == kMr) {
    for (; k + 8 <= kc; k += 8) {
      for (int g = 0; g < kMr; g += 8) {
        const int64_t base = (r0 + g) * K + k0 + k;
        __m256 a0 = load8<D>(w.data, base), a1 = load8<D>(w.data, base + K);
        __m256 a2 = load8<D>(w.data, base + 2 * K), a3 = load8<D>(w.data, base + 3 * K);
        __m256 a4 = load8<D>(w.data, base + 4 * K), a5 = load8<D>(w.data, base + 5 * K);
        __m256 a6 = load8<D>(w.data, base + 6 * K), a7 = load8<D>(w.data, base + 7 * K);
        transpose8(a0, a1, a2, a3, a4, a5, a6, a7);
        float* d = dst + k * kMr + g;
        _mm256_store_ps(d + 0 * kMr, a0);
        _mm256_store_ps(d + 1 * kMr, a1);
        _mm256_store_ps(d + 2 * kMr, a2);
        _mm256_store_ps(d + 3 * kMr, a3);
        _mm256_store_ps(d + 4 * kMr, a4);
        _mm256_store_ps(d + 5 * kMr, a5);
        _mm256_store_ps(d + 6 * kMr, a6);
        _mm256_store_ps(d + 7 * kMr, a7);
      }
    }
  }
  for (; k < kc; ++k) {
    for (int r = 0; r < kMr; ++r) {
      dst[k * kMr + r] = r < valid ? load1<D>(w.data, (r0 + r) * K + k0 + k) : 0.0f;
    }
  }
}

// Stores (or adds) one token's 16 outputs; only `valid` of them for a partial panel.
inline void store_tile(float* yt, __m256 c0, __m256 c1, int valid, bool accumulate) {
  if (valid == kMr) {
    if (accumulate) {
      c0 = _mm256_add_ps(c0, _mm256_loadu_ps(yt));
      c1 = _mm256_add_ps(c1, _mm256_loadu_ps(yt + 8));
    }
    _mm256_storeu_ps(yt, c0);
    _mm256_storeu_ps(yt + 8, c1);
    return;
  }
  alignas(32) float tmp[kMr];
  _mm256_store_ps(tmp, c0);
  _mm256_store_ps(tmp + 8, c1);
  for (int r = 0; r < valid; ++r) yt[r] = accumulate ? yt[r] + tmp[r] : tmp[r];
}

// y[t, 0..valid) (+)= Σ_k pw[k, 0..16) · x[t, k] for t < NT.
//   pw: [kc][16] packed panel; x: NT rows with stride ldx; y: NT rows with stride ldy.
// The accumulators are named variables, not an array: with an array GCC keeps a
// memory copy and stores it on every iteration.
template <int NT>
void micro_kernel(const float* pw, const float* x, int64_t ldx, int64_t kc, float* y, int64_t ldy,
                  int valid, bool accumulate) {
  const __m256 z = _mm256_setzero_ps();
  __m256 c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z;
  __m256 c30 = z, c31 = z, c40 = z, c41 = z, c50 = z, c51 = z;
  const float* x0 = x;
  const float* x1 = x + (NT > 1 ? ldx : 0);
  const float* x2 = x + (NT > 2 ? 2 * ldx : 0);
  const float* x3 = x + (NT > 3 ? 3 * ldx : 0);
  const float* x4 = x + (NT > 4 ? 4 * ldx : 0);
  const float* x5 = x + (NT > 5 ? 5 * ldx : 0);
#define QG_STEP(t)                                   \
  if constexpr (NT > t) {                            \
    const __m256 xb = _mm256_broadcast_ss(x##t + k); \
    c##t##0 = _mm256_fmadd_ps(w0, xb, c##t##0);      \
    c##t##1 = _mm256_fmadd_ps(w1, xb, c##t##1);      \
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 w0 = _mm256_load_ps(pw + k * kMr);
    const __m256 w1 = _mm256_load_ps(pw + k * kMr + 8);
    QG_STEP(0) QG_STEP(1) QG_STEP(2) QG_STEP(3) QG_STEP(4) QG_STEP(5)
  }
#undef QG_STEP
  store_tile(y, c00, c01, valid, accumulate);
  if constexpr (NT > 1) store_tile(y + ldy, c10, c11, valid, accumulate);
  if constexpr (NT > 2) store_tile(y + 2 * ldy, c20, c21, valid, accumulate);
  if constexpr (NT > 3) store_tile(y + 3 * ldy, c30, c31, valid, accumulate);
  if constexpr (NT > 4) store_tile(y + 4 * ldy, c40, c41, valid, accumulate);
  if constexpr (NT > 5) store_tile(y + 5 * ldy, c50, c51, valid, accumulate);
}

using MicroFn = void (*)(const float*, const float*, int64_t, int64_t, float*, int64_t, int, bool);
constexpr MicroFn kMicro[kNr + 1] = {nullptr,         micro_kernel<1>, micro_kernel<2>,
                                     micro_kernel<3>, micro_kernel<4>, micro_kernel<5>,
                                     micro_kernel<6>};

template <DType D>
void gemm_t(ThreadPool& pool, const MatRef& w, const float* x, int64_t n, float* y) {
  const int64_t rows = w.rows, K = w.cols;
  const int64_t n_panels = (rows + kMr - 1) / kMr;
  pool.parallel_ranges(n_panels, [&](int64_t p_begin, int64_t p_end, int) {
    alignas(64) float packed[kMcPanels * kKc * kMr];  // [kMcPanels][kKc][16]
    for (int64_t pb = p_begin; pb < p_end; pb += kMcPanels) {
      const int64_t np = std::min(kMcPanels, p_end - pb);
      for (int64_t k0 = 0; k0 < K; k0 += kKc) {
        const int64_t kc = std::min(kKc, K - k0);
        for (int64_t p = 0; p < np; ++p) {
          const int64_t r0 = (pb + p) * kMr;
          const int valid = static_cast<int>(std::min<int64_t>(kMr, rows - r0));
          pack_panel<D>(w, r0, valid, k0, kc, packed + p * kKc * kMr);
        }
        for (int64_t t0 = 0; t0 < n; t0 += kNr) {
          const MicroFn micro = kMicro[std::min<int64_t>(kNr, n - t0)];
          for (int64_t p = 0; p < np; ++p) {
            const int64_t r0 = (pb + p) * kMr;
            const int valid = static_cast<int>(std::min<int64_t>(kMr, rows - r0));
            micro(packed + p * kKc * kMr, x + t0 * K + k0, K, kc, y + t0 * rows + r0, rows, valid,
                  k0 > 0);
          }
        }
      }
    }
  });
}

// y[n, w.rows] = x[n, w.cols] · wᵀ for n > kGemvMaxN.
void gemm(ThreadPool& pool, const MatRef& w, const float* x, int64_t n, float* y) {
  switch (w.dtype) {
    case DType::kF32:
      return gemm_t<DType::kF32>(pool, w, x, n, y);
    case DType::kF16:
      return gemm_t<DType::kF16>(pool, w, x, n, y);
    case DType::kBF16:
      return gemm_t<DType::kBF16>(pool, w, x, n, y);
  }
}

}  // namespace

void matmul(ThreadPool& pool, const MatRef& w, const float* x, int64_t n, float* y) {
  if (n > kGemvMaxN) return gemm(pool, w, x, n, y);
  switch (w.dtype) {
    case DType::kF32:
      return gemv<DType::kF32>(pool, w, x, n, y);
    case DType::kF16:
      return gemv<DType::kF16>(pool, w, x, n, y);
    case DType::kBF16:
      return gemv<DType::kBF16>(pool, w, x, n, y);
  }
}

void matmul_rows(ThreadPool& pool, const MatRef& w, const int32_t* rows, int64_t n_rows,
                 const float* x, int64_t n, float* y) {
  switch (w.dtype) {
    case DType::kF32:
      return matmul_rows_t<DType::kF32>(pool, w, rows, n_rows, x, n, y);
    case DType::kF16:
      return matmul_rows_t<DType::kF16>(pool, w, rows, n_rows, x, n, y);
    case DType::kBF16:
      return matmul_rows_t<DType::kBF16>(pool, w, rows, n_rows, x, n, y);
  }
}

}  // namespace qg::kernels::avx2
