// Internal to kernels/: the table of function pointers one ISA provides, and the
// per-ISA entry points that fill it. kernels.h's free functions forward through the
// Context's table, so the feature test happens once (when the Context is built),
// never per call. Nothing outside kernels/ includes this file.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernels.h"

namespace qg::kernels {

class ThreadPool;

// Largest head_dim rope accepts (the avx2 path keeps one token's cos/sin on the stack).
constexpr int64_t kRopeMaxHeadDim = 1024;

// The avx2/ files are compiled with -mavx2: any inline function or template they
// instantiate out of line (a weak symbol) could be picked by the linker for baseline
// code too and crash a CPU without AVX2. So they must not call shared inline code that
// may stay out of line -- in particular no QG_CHECK / qg::cat: argument checks belong in
// dispatch.cpp. tests/kernels checks their objects for weak symbols.
struct KernelTable {
  Isa isa;
  // y[n, w.rows] = x[n, w.cols] · wᵀ
  void (*matmul)(ThreadPool& pool, const MatRef& w, const float* x, int64_t n, float* y);
  // ys[i][n, ws[i].rows] = x[n, cols] · ws[i]ᵀ, i < n_w (same cols)
  void (*matmul_multi)(ThreadPool& pool, const MatRef* ws, int64_t n_w, const float* x, int64_t n,
                       float* const* ys);
  // y[n, n_rows] = x[n, w.cols] · w[rows]ᵀ
  void (*matmul_rows)(ThreadPool& pool, const MatRef& w, const int32_t* rows, int64_t n_rows,
                      const float* x, int64_t n, float* y);
  void (*rmsnorm)(ThreadPool& pool, const float* x, const float* weight, int64_t n, int64_t d,
                  float eps, float* y);
  void (*rope)(ThreadPool& pool, float* x, int64_t n, int64_t n_heads, int64_t head_dim,
               const int32_t* pos, const float* inv_freq);
  void (*silu_mul)(ThreadPool& pool, const float* gate, const float* up, int64_t count, float* y);
  void (*add)(ThreadPool& pool, const float* a, const float* b, int64_t count, float* y);
  void (*attention)(ThreadPool& pool, const float* q, int64_t n_q, int64_t pos0, const float* k,
                    const float* v, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
                    float scale, float* out, float* scratch);
  size_t (*attention_scratch_floats)(int n_threads, int64_t n_q, int64_t n_kv_pos, int64_t n_heads);
  // Paged cache (kernels.h): attention over a block table, and storing new K/V rows.
  void (*attention_paged)(ThreadPool& pool, const float* q, int64_t n_q, int64_t pos0,
                          const PagedKv& kv, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
                          float scale, float* out, float* scratch);
  size_t (*attention_paged_scratch_floats)(int n_threads, int64_t n_q, int64_t n_pos,
                                           int64_t n_heads, int64_t head_dim);
  void (*kv_store)(ThreadPool& pool, const float* rows, int64_t n, int64_t row_elems, int64_t pos0,
                   void* base, const PagedKv& kv);
};

// The scalar reference (ref/): plain loops written for clarity. It is the oracle of
// the tests and the path QG_FORCE_ISA=scalar selects.
const KernelTable& ref_table();
// AVX2 + FMA + F16C (avx2/). Only call its functions when cpu_has_avx2() is true.
const KernelTable& avx2_table();
bool cpu_has_avx2();  // avx2 && fma && f16c, from cpuid

const KernelTable& table_for(Isa isa);  // throws qg::Error if the CPU lacks `isa`

}  // namespace qg::kernels
