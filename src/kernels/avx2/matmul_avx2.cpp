// AVX2/FMA matmul, matmul_multi and matmul_rows. Must equal ref::matmul to ~1e-5
// relative, and be batch-invariant bitwise: every output y[t, r] = x[t, :] · W[r, :] is
// reduced in one canonical order, whatever n, the thread count, the kernel (GEMV or
// GEMM) or the position of the row in a tile:
//
//   K8 = cols rounded down to a multiple of 8
//   lane l in 0..7:  s_l = 0;  s_l = fma(W[r, 8c+l], x[t, 8c+l], s_l)  for c = 0 .. K8/8-1
//   y = ((s_0 + s_1) + (s_2 + s_3)) + ((s_4 + s_5) + (s_6 + s_7))      (hsum4's order)
//   y = fma(W[r, k], x[t, k], y)                                       for k = K8 .. cols-1
//
// (bf16/f16 weights are widened to f32 exactly first, so the dtype changes no rounding.)
// Two kernels implement that order:
//
// GEMV, n = 1 (decode): memory-bound. 8 rows at a time (8 weight streams, the next 8
// rows prefetched into L2), one 8-lane FMA chain per row, hsum4 per 4 rows. Threads
// split blocks of 16 rows. matmul_rows uses the same kernel on 4 listed rows.
//
// GEMM, n >= 2 (several sequences decoding, prefill). Register tile of 3 rows × 4 tokens:
// 12 accumulators that each hold one output's 8 lane sums over the whole K (so no
// partial sums are ever stored and re-added: the chain is exactly the one above).
// Per 8 columns: 3 weight vectors (widened in registers), 4 token vectors, 12 FMAs.
// Then hsum4 over each row's 4 tokens, then the column tail. Rows are cut into blocks
// of up to kBlockBytes of weights (they stay in L2 while all tokens sweep them, 4 at a
// time, their x tile in L1); threads split the blocks. Tiles read W in place, widening
// in registers and prefetching the next tile's rows into L2 (measured: packing W to f32
// first was slower, ~70 % instead of ~86 % of peak: it doubles the L2 traffic). Tiles
// at the row edge repeat the last row and drop its outputs; a group of fewer than 4
// tokens runs the same code with the unused accumulators compiled out: each output's
// instruction sequence stays the same.
#include <algorithm>
#include <cmath>

#include "kernels/avx2/avx2_util.h"
#include "kernels/kernel_table.h"
#include "kernels/thread_pool.h"

namespace qg::kernels::avx2 {
namespace {

// Up to this many tokens the 8-row GEMV; from 2 tokens on the 3 × 4 tiles (which widen
// each weight once for up to 4 tokens) are faster. Both give the same bits.
constexpr int64_t kGemvMaxN = 1;
// Work of fewer weights than this per slice runs on the calling thread: waking a
// worker costs more than it saves.
constexpr int64_t kMinSliceWeights = 32768;
constexpr int kGemvRows = 8;  // rows per GEMV step
constexpr int64_t kTileRows = 3, kTileTokens = 4;
// Rows per GEMM block: its weights (up to ~256 KB in the stored dtype) stay in L2.
constexpr int64_t kBlockBytes = 256 * 1024;
constexpr int64_t kMaxBlockTiles = 16;  // 48 rows: enough tasks to balance 2-4 threads

// y = fma(W[k], x[k], y) for k in [k0, k1): the canonical column tail.
template <DType D>
inline float tail(const void* w, int64_t off, const float* x, int64_t k0, int64_t k1, float y) {
  for (int64_t k = k0; k < k1; ++k) y = std::fma(load1<D>(w, off + k), x[k], y);
  return y;
}

// ---- GEMV (decode): rows with element offsets o[0..R) against one token x[cols] ----
// R = 8 rows at a time: 8 independent FMA chains and 8 concurrent weight streams (the
// next block's rows prefetched), two hsum4. R = 4 for matmul_rows.

template <DType D, int R>
inline void gemv_rows_k(const void* w, const int64_t* o, int64_t cols, const float* x, float* out) {
  const int64_t k8 = cols / 8 * 8;
  __m256 a[R];
  for (int j = 0; j < R; ++j) a[j] = _mm256_setzero_ps();
  const char* bytes = static_cast<const char*>(w);
  constexpr int64_t kSize = D == DType::kF32 ? 4 : 2;
  for (int64_t c = 0; c < k8; c += 8) {
    if ((c & 31) == 0) {
      const char* ahead = bytes + kSize * (R * cols + c);
      for (int j = 0; j < R; ++j) _mm_prefetch(ahead + kSize * o[j], _MM_HINT_T1);
    }
    const __m256 xv = _mm256_loadu_ps(x + c);
    for (int j = 0; j < R; ++j) a[j] = _mm256_fmadd_ps(load8<D>(w, o[j] + c), xv, a[j]);
  }
  alignas(16) float s[R];
  for (int j = 0; j < R; j += 4) _mm_store_ps(s + j, hsum4(a[j], a[j + 1], a[j + 2], a[j + 3]));
  for (int j = 0; j < R; ++j) out[j] = tail<D>(w, o[j], x, k8, cols, s[j]);
}

template <DType D>
inline void gemv_4rows(const void* w, const int64_t* o, int64_t cols, const float* x, float* out) {
  gemv_rows_k<D, 4>(w, o, cols, x, out);
}

// Rows [r0, r1) of one matrix for all n tokens, by blocks of kGemvRows (the last repeats
// its last row). y: [n, ldy] with this matrix's outputs at column offset 0.
template <DType D>
void gemv_rows(const MatRef& w, int64_t r0, int64_t r1, const float* x, int64_t n, float* y,
               int64_t ldy) {
  for (int64_t r = r0; r < r1; r += kGemvRows) {
    const int64_t valid = std::min<int64_t>(kGemvRows, r1 - r);
    int64_t o[kGemvRows];
    for (int j = 0; j < kGemvRows; ++j) o[j] = std::min(r + j, r1 - 1) * w.cols;
    for (int64_t t = 0; t < n; ++t) {
      float out[kGemvRows];
      gemv_rows_k<D, kGemvRows>(w.data, o, w.cols, x + t * w.cols, out);
      for (int64_t j = 0; j < valid; ++j) y[t * ldy + r + j] = out[j];
    }
  }
}

// ---- GEMM (prefill) ----

// out[r][t] for the 3 rows at element offsets o[0..3) and tokens xs[0..NT), full K.
template <DType D, int NT>
inline void tile_3x4(const void* w, const int64_t* o, int64_t cols,
                     const float* const* xs, float out[kTileRows][kTileTokens]) {
  static_assert(NT >= 1 && NT <= kTileTokens);
  const int64_t k8 = cols / 8 * 8;
  const __m256 z = _mm256_setzero_ps();
  __m256 c00 = z, c01 = z, c02 = z, c03 = z;
  __m256 c10 = z, c11 = z, c12 = z, c13 = z;
  __m256 c20 = z, c21 = z, c22 = z, c23 = z;
  const float* x0 = xs[0];
  const float* x1 = xs[NT > 1 ? 1 : 0];
  const float* x2 = xs[NT > 2 ? 2 : 0];
  const float* x3 = xs[NT > 3 ? 3 : 0];
  const char* bytes = static_cast<const char*>(w);
  constexpr int64_t kSize = D == DType::kF32 ? 4 : 2;
  for (int64_t c = 0; c < k8; c += 8) {
    if ((c & 31) == 0) {  // fetch the next tile's rows into L2 (for the first token group
                          // they come from memory)
      const char* ahead = bytes + kSize * (kTileRows * cols + c);
      _mm_prefetch(ahead + kSize * o[0], _MM_HINT_T1);
      _mm_prefetch(ahead + kSize * o[1], _MM_HINT_T1);
      _mm_prefetch(ahead + kSize * o[2], _MM_HINT_T1);
    }
    const __m256 w0 = load8<D>(w, o[0] + c);
    const __m256 w1 = load8<D>(w, o[1] + c);
    const __m256 w2 = load8<D>(w, o[2] + c);
    __m256 xv = _mm256_loadu_ps(x0 + c);
    c00 = _mm256_fmadd_ps(w0, xv, c00);
    c10 = _mm256_fmadd_ps(w1, xv, c10);
    c20 = _mm256_fmadd_ps(w2, xv, c20);
    if constexpr (NT > 1) {
      xv = _mm256_loadu_ps(x1 + c);
      c01 = _mm256_fmadd_ps(w0, xv, c01);
      c11 = _mm256_fmadd_ps(w1, xv, c11);
      c21 = _mm256_fmadd_ps(w2, xv, c21);
    }
    if constexpr (NT > 2) {
      xv = _mm256_loadu_ps(x2 + c);
      c02 = _mm256_fmadd_ps(w0, xv, c02);
      c12 = _mm256_fmadd_ps(w1, xv, c12);
      c22 = _mm256_fmadd_ps(w2, xv, c22);
    }
    if constexpr (NT > 3) {
      xv = _mm256_loadu_ps(x3 + c);
      c03 = _mm256_fmadd_ps(w0, xv, c03);
      c13 = _mm256_fmadd_ps(w1, xv, c13);
      c23 = _mm256_fmadd_ps(w2, xv, c23);
    }
  }
  alignas(16) float s[kTileRows][kTileTokens];
  _mm_store_ps(s[0], hsum4(c00, c01, c02, c03));
  _mm_store_ps(s[1], hsum4(c10, c11, c12, c13));
  _mm_store_ps(s[2], hsum4(c20, c21, c22, c23));
  for (int r = 0; r < kTileRows; ++r) {
    for (int t = 0; t < NT; ++t) out[r][t] = tail<D>(w, o[r], xs[t], k8, cols, s[r][t]);
  }
}

template <DType D>
inline void tile_any(int64_t nt, const void* w, const int64_t* o, int64_t cols,
                     const float* const* xs, float out[kTileRows][kTileTokens]) {
  switch (nt) {
    case 1:
      return tile_3x4<D, 1>(w, o, cols, xs, out);
    case 2:
      return tile_3x4<D, 2>(w, o, cols, xs, out);
    case 3:
      return tile_3x4<D, 3>(w, o, cols, xs, out);
    default:
      return tile_3x4<D, 4>(w, o, cols, xs, out);
  }
}

// Rows [r0, r1) of one matrix for all n tokens (n > kGemvMaxN). y: [n, ldy].
template <DType D>
void gemm_rows(const MatRef& w, int64_t r0, int64_t r1, const float* x, int64_t n, float* y,
               int64_t ldy) {
  const int64_t cols = w.cols;
  const int64_t n_tiles = (r1 - r0 + kTileRows - 1) / kTileRows;
  int64_t o[kMaxBlockTiles][kTileRows];
  for (int64_t tile = 0; tile < n_tiles; ++tile) {
    const int64_t r = r0 + tile * kTileRows, nr = std::min(kTileRows, r1 - r);
    for (int64_t j = 0; j < kTileRows; ++j) o[tile][j] = (r + std::min(j, nr - 1)) * cols;
  }
  for (int64_t t0 = 0; t0 < n; t0 += kTileTokens) {
    const int64_t nt = std::min(kTileTokens, n - t0);
    const float* xs[kTileTokens];
    for (int64_t t = 0; t < kTileTokens; ++t) xs[t] = x + (t0 + std::min(t, nt - 1)) * cols;
    for (int64_t tile = 0; tile < n_tiles; ++tile) {
      const int64_t r = r0 + tile * kTileRows, nr = std::min(kTileRows, r1 - r);
      float out[kTileRows][kTileTokens];
      tile_any<D>(nt, w.data, o[tile], cols, xs, out);
      for (int64_t j = 0; j < nr; ++j) {
        for (int64_t t = 0; t < nt; ++t) y[(t0 + t) * ldy + r + j] = out[j][t];
      }
    }
  }
}

template <DType D>
void rows_t(const MatRef& w, int64_t r0, int64_t r1, const float* x, int64_t n, float* y,
            int64_t ldy) {
  if (n <= kGemvMaxN) {
    gemv_rows<D>(w, r0, r1, x, n, y, ldy);
  } else {
    gemm_rows<D>(w, r0, r1, x, n, y, ldy);
  }
}

// Rows [r0, r1) of w into y[n, ldy], whatever its dtype.
void rows_any(const MatRef& w, int64_t r0, int64_t r1, const float* x, int64_t n, float* y,
              int64_t ldy) {
  switch (w.dtype) {
    case DType::kF32:
      return rows_t<DType::kF32>(w, r0, r1, x, n, y, ldy);
    case DType::kF16:
      return rows_t<DType::kF16>(w, r0, r1, x, n, y, ldy);
    case DType::kBF16:
      return rows_t<DType::kBF16>(w, r0, r1, x, n, y, ldy);
  }
}

// Rows per task: GEMV tasks are two 8-row steps; GEMM tasks are blocks of whole 3-row tiles
// whose weights fit kBlockBytes.
int64_t task_rows(const MatRef& w, int64_t n) {
  if (n <= kGemvMaxN) return 2 * kGemvRows;
  const int64_t row_bytes = std::max<int64_t>(1, w.cols * static_cast<int64_t>(dtype_size(w.dtype)));
  return std::clamp<int64_t>(kBlockBytes / row_bytes / kTileRows, 1, kMaxBlockTiles) * kTileRows;
}

void matmul_multi_impl(ThreadPool& pool, const MatRef* ws, int64_t n_w, const float* x, int64_t n,
                       float* const* ys) {
  constexpr int64_t kMaxW = kMatmulMultiMax;  // checked in dispatch.cpp
  int64_t first[kMaxW + 1];     // first task of each matrix
  int64_t rows_per[kMaxW];
  first[0] = 0;
  int64_t weights = 0;
  for (int64_t i = 0; i < n_w; ++i) {
    rows_per[i] = task_rows(ws[i], n);
    first[i + 1] = first[i] + (ws[i].rows + rows_per[i] - 1) / rows_per[i];
    weights += ws[i].rows * ws[i].cols;
  }
  const int64_t n_tasks = first[n_w];
  const int64_t grain =
      std::max<int64_t>(1, n_tasks * kMinSliceWeights / std::max<int64_t>(1, weights * n));
  pool.parallel_ranges(
      n_tasks,
      [&](int64_t begin, int64_t end, int) {
        int64_t i = 0;
        for (int64_t task = begin; task < end; ++task) {
          while (task >= first[i + 1]) ++i;
          const MatRef& w = ws[i];
          const int64_t r0 = (task - first[i]) * rows_per[i];
          rows_any(w, r0, std::min(w.rows, r0 + rows_per[i]), x, n, ys[i], w.rows);
        }
      },
      grain);
}

template <DType D>
void matmul_rows_t(ThreadPool& pool, const MatRef& w, const int32_t* rows, int64_t n_rows,
                   const float* x, int64_t n, float* y) {
  // Blocks of 4 listed rows through the GEMV kernel: the canonical order again.
  auto blocks = [&](int64_t b0, int64_t b1, int) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t i0 = b * 4, valid = std::min<int64_t>(4, n_rows - i0);
      int64_t o[4];
      for (int64_t j = 0; j < 4; ++j) o[j] = int64_t{rows[i0 + std::min(j, valid - 1)]} * w.cols;
      for (int64_t t = 0; t < n; ++t) {
        float out[4];
        gemv_4rows<D>(w.data, o, w.cols, x + t * w.cols, out);
        for (int64_t j = 0; j < valid; ++j) y[t * n_rows + i0 + j] = out[j];
      }
    }
  };
  pool.parallel_ranges((n_rows + 3) / 4, blocks,
                       kMinSliceWeights / std::max<int64_t>(1, 4 * w.cols * n));
}

}  // namespace

void matmul(ThreadPool& pool, const MatRef& w, const float* x, int64_t n, float* y) {
  float* ys[1] = {y};
  matmul_multi_impl(pool, &w, 1, x, n, ys);
}

void matmul_multi(ThreadPool& pool, const MatRef* ws, int64_t n_w, const float* x, int64_t n,
                  float* const* ys) {
  matmul_multi_impl(pool, ws, n_w, x, n, ys);
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
