// Scalar reference matmul and matmul_rows: the oracle for the fast paths (tests
// compare avx2/ against these to ~1e-5 relative). One f32 accumulator per output,
// summed in column order, like a naive `x @ W.T` in float32. Threads split the rows
// of W; that does not change any result, so the reference stays deterministic.
#include "kernels/kernel_table.h"
#include "kernels/ref/ref_util.h"
#include "kernels/thread_pool.h"

namespace qg::kernels::ref {

// One output: dot(x[cols], W[r, :]).
static float dot_row(const MatRef& w, int64_t r, const float* x) {
  float acc = 0.0f;
  for (int64_t c = 0; c < w.cols; ++c) acc += x[c] * weight_at(w, r, c);
  return acc;
}

// y[n, w.rows] = x[n, w.cols] · wᵀ
void matmul(ThreadPool& pool, const MatRef& w, const float* x, int64_t n, float* y) {
  pool.parallel_ranges(w.rows, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      for (int64_t t = 0; t < n; ++t) y[t * w.rows + r] = dot_row(w, r, x + t * w.cols);
    }
  });
}

// y[n, n_rows] = x[n, w.cols] · w[rows]ᵀ
void matmul_rows(ThreadPool& pool, const MatRef& w, const int32_t* rows, int64_t n_rows,
                 const float* x, int64_t n, float* y) {
  pool.parallel_for(n_rows, [&](int64_t i) {
    for (int64_t t = 0; t < n; ++t) y[t * n_rows + i] = dot_row(w, rows[i], x + t * w.cols);
  });
}

}  // namespace qg::kernels::ref
