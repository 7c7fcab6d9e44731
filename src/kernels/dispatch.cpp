// Run-time ISA selection and the public entry points of kernels.h. The CPU is asked
// once (cpuid via __builtin_cpu_supports) when a Context is built; the Context keeps a
// pointer to the chosen KernelTable and every kernel call forwards through it, so no
// kernel tests CPU features per call and there is no global mutable state.
#include <cstdlib>
#include <string>
#include <thread>

#include "base/error.h"
#include "kernels/kernel_table.h"
#include "kernels/kernels.h"
#include "kernels/thread_pool.h"

namespace qg::kernels {

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
  }
  return "?";
}

bool cpu_has_avx2() {
#if defined(__x86_64__) || defined(__i386__)
  // The avx2/ files are compiled with -mavx2 -mfma -mf16c: all three must be present.
  // (__builtin_cpu_supports also checks that the OS saves the YMM registers.)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
#else
  return false;
#endif
}

bool isa_supported(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:
      return cpu_has_avx2();
  }
  return false;
}

Isa best_isa() { return cpu_has_avx2() ? Isa::kAvx2 : Isa::kScalar; }

Isa parse_isa(std::string_view name, std::string_view what) {
  Isa isa;
  if (name == "scalar") {
    isa = Isa::kScalar;
  } else if (name == "avx2") {
    isa = Isa::kAvx2;
  } else {
    fail(what, "=", name, ": unknown instruction set (expected scalar or avx2)");
  }
  if (!isa_supported(isa)) fail(what, "=", name, ": this CPU does not support ", name);
  return isa;
}

Isa isa_from_env_or(Isa fallback) {
  const char* env = std::getenv("QG_FORCE_ISA");
  if (env == nullptr || *env == '\0') return fallback;
  return parse_isa(env, "QG_FORCE_ISA");
}

const KernelTable& table_for(Isa isa) {
  if (!isa_supported(isa)) fail("kernels: this CPU does not support ", isa_name(isa));
  return isa == Isa::kAvx2 ? avx2_table() : ref_table();
}

namespace {

int threads_from_env_or_cores() {
  if (const char* env = std::getenv("QG_THREADS"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    long n = std::strtol(env, &end, 10);
    if (*end != '\0' || n < 1 || n > 1024) {
      fail("QG_THREADS=", env, ": expected a thread count between 1 and 1024");
    }
    return static_cast<int>(n);
  }
  unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : static_cast<int>(cores);
}

}  // namespace

Context::Context(int n_threads) : Context(n_threads, isa_from_env_or(best_isa())) {}

Context::Context(int n_threads, Isa isa)
    : isa_(isa),
      table_(&table_for(isa)),
      pool_(std::make_unique<ThreadPool>(n_threads > 0 ? n_threads : threads_from_env_or_cores())) {
}

Context::~Context() = default;

int Context::n_threads() const { return pool_->n_threads(); }

// ---- Public entry points: check shapes once, then forward to the chosen table. ----

void matmul(const Context& ctx, const MatRef& w, const float* x, int64_t n, float* y) {
  QG_CHECK(w.rows >= 0 && w.cols >= 0 && n >= 0, "matmul: bad shape [", w.rows, ", ", w.cols,
           "] n=", n);
  if (n == 0 || w.rows == 0) return;
  ctx.table().matmul(ctx.pool(), w, x, n, y);
}

void matmul_multi(const Context& ctx, const MatRef* ws, int64_t n_w, const float* x, int64_t n,
                  float* const* ys) {
  QG_CHECK(n_w >= 1 && n_w <= kMatmulMultiMax, "matmul_multi: ", n_w, " matrices (1..",
           kMatmulMultiMax, ")");
  QG_CHECK(n >= 0, "matmul_multi: n=", n);
  for (int64_t i = 0; i < n_w; ++i) {
    QG_CHECK(ws[i].rows >= 0 && ws[i].cols == ws[0].cols, "matmul_multi: matrix ", i, " is [",
             ws[i].rows, ", ", ws[i].cols, "], expected ", ws[0].cols, " columns");
  }
  if (n == 0) return;
  ctx.table().matmul_multi(ctx.pool(), ws, n_w, x, n, ys);
}

void matmul_rows(const Context& ctx, const MatRef& w, const int32_t* rows, int64_t n_rows,
                 const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n_rows; ++i) {
    QG_CHECK(rows[i] >= 0 && rows[i] < w.rows, "matmul_rows: row ", rows[i], " out of [0, ", w.rows,
             ")");
  }
  if (n == 0 || n_rows == 0) return;
  ctx.table().matmul_rows(ctx.pool(), w, rows, n_rows, x, n, y);
}

void get_row(const MatRef& w, int64_t row, float* out) {
  QG_CHECK(row >= 0 && row < w.rows, "get_row: row ", row, " out of [0, ", w.rows, ")");
  const size_t off = static_cast<size_t>(row) * static_cast<size_t>(w.cols);
  switch (w.dtype) {
    case DType::kF32: {
      const float* src = static_cast<const float*>(w.data) + off;
      for (int64_t j = 0; j < w.cols; ++j) out[j] = src[j];
      break;
    }
    case DType::kBF16: {
      const uint16_t* src = static_cast<const uint16_t*>(w.data) + off;
      for (int64_t j = 0; j < w.cols; ++j) out[j] = bf16_to_f32(src[j]);
      break;
    }
    case DType::kF16: {
      const uint16_t* src = static_cast<const uint16_t*>(w.data) + off;
      for (int64_t j = 0; j < w.cols; ++j) out[j] = f16_to_f32(src[j]);
      break;
    }
  }
}

void rmsnorm(const Context& ctx, const float* x, const float* weight, int64_t n, int64_t d,
             float eps, float* y) {
  if (n == 0 || d == 0) return;
  ctx.table().rmsnorm(ctx.pool(), x, weight, n, d, eps, y);
}

void rope(const Context& ctx, float* x, int64_t n, int64_t n_heads, int64_t head_dim,
          const int32_t* pos, const float* inv_freq) {
  QG_CHECK(head_dim % 2 == 0 && head_dim <= kRopeMaxHeadDim, "rope: head_dim ", head_dim,
           " must be even and at most ", kRopeMaxHeadDim);
  if (n == 0 || n_heads == 0) return;
  ctx.table().rope(ctx.pool(), x, n, n_heads, head_dim, pos, inv_freq);
}

void silu_mul(const Context& ctx, const float* gate, const float* up, int64_t count, float* y) {
  if (count > 0) ctx.table().silu_mul(ctx.pool(), gate, up, count, y);
}

void add(const Context& ctx, const float* a, const float* b, int64_t count, float* y) {
  if (count > 0) ctx.table().add(ctx.pool(), a, b, count, y);
}

void attention(const Context& ctx, const float* q, int64_t n_q, int64_t pos0, const float* k,
               const float* v, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float scale,
               float* out, float* scratch) {
  QG_CHECK(n_kv_heads > 0 && n_heads % n_kv_heads == 0, "attention: ", n_heads,
           " query heads are not a multiple of ", n_kv_heads, " kv heads");
  QG_CHECK(pos0 >= 0, "attention: pos0=", pos0);
  if (n_q == 0) return;
  ctx.table().attention(ctx.pool(), q, n_q, pos0, k, v, n_heads, n_kv_heads, head_dim, scale, out,
                        scratch);
}

size_t attention_scratch_floats(const Context& ctx, int64_t n_q, int64_t n_kv_pos,
                                int64_t n_heads) {
  return ctx.table().attention_scratch_floats(ctx.n_threads(), n_q, n_kv_pos, n_heads);
}

namespace {

void check_paged(const PagedKv& kv, int64_t row_elems, const char* what) {
  QG_CHECK(kv.block_tokens > 0, what, ": block_tokens=", kv.block_tokens);
  QG_CHECK(kv.block_stride >= kv.block_tokens * row_elems, what, ": block_stride ", kv.block_stride,
           " < block_tokens ", kv.block_tokens, " x ", row_elems, " elements per position");
  QG_CHECK(kv.dtype == DType::kF32 || kv.dtype == DType::kF16, what, ": KV dtype ",
           dtype_name(kv.dtype), " (expected F32 or F16)");
  QG_CHECK(kv.blocks != nullptr, what, ": no block table");
}

}  // namespace

void attention_paged(const Context& ctx, const float* q, int64_t n_q, int64_t pos0,
                     const PagedKv& kv, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
                     float scale, float* out, float* scratch) {
  QG_CHECK(n_kv_heads > 0 && n_heads % n_kv_heads == 0, "attention_paged: ", n_heads,
           " query heads are not a multiple of ", n_kv_heads, " kv heads");
  QG_CHECK(pos0 >= 0 && n_q >= 0 && head_dim > 0, "attention_paged: pos0=", pos0, " n_q=", n_q,
           " head_dim=", head_dim);
  if (n_q == 0) return;
  check_paged(kv, n_kv_heads * head_dim, "attention_paged");
  ctx.table().attention_paged(ctx.pool(), q, n_q, pos0, kv, n_heads, n_kv_heads, head_dim, scale,
                              out, scratch);
}

size_t attention_paged_scratch_floats(const Context& ctx, int64_t n_q, int64_t n_pos,
                                      int64_t n_heads, int64_t head_dim) {
  return ctx.table().attention_paged_scratch_floats(ctx.n_threads(), n_q, n_pos, n_heads,
                                                    head_dim);
}

void kv_store(const Context& ctx, const float* rows, int64_t n, int64_t row_elems, int64_t pos0,
              void* base, const PagedKv& kv) {
  QG_CHECK(pos0 >= 0 && n >= 0 && row_elems > 0, "kv_store: pos0=", pos0, " n=", n,
           " row_elems=", row_elems);
  if (n == 0) return;
  check_paged(kv, row_elems, "kv_store");
  ctx.table().kv_store(ctx.pool(), rows, n, row_elems, pos0, base, kv);
}

}  // namespace qg::kernels
