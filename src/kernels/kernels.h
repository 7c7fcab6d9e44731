// kernels/: the only code that knows SIMD (and, later, CUDA). The model calls these
// functions and nothing below them. Every function has a scalar reference
// (kernels/ref/) and may have faster paths (kernels/avx2/, ...); one KernelTable
// is chosen at run time from the CPU's features, or forced with the environment
// variable QG_FORCE_ISA=scalar|avx2. Tests compare every path with the reference.
//
// Conventions: row-major, PyTorch axis order, shapes written [rows, cols].
// A weight matrix W has shape [out, in] exactly as stored in the checkpoint (HF
// nn.Linear), so y = x · Wᵀ. Activations are f32; weights stay in their stored
// dtype (f32, f16 or bf16) and are widened inside the kernel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "base/dtype.h"

namespace qg::kernels {

class ThreadPool;    // kernels/thread_pool.h
struct KernelTable;  // kernels/kernel_table.h (internal)

enum class Isa : uint8_t { kScalar, kAvx2 };
std::string_view isa_name(Isa isa);

// A non-owning view of a 2-D weight: `rows` rows of `cols` elements, contiguous.
struct MatRef {
  const void* data = nullptr;
  DType dtype = DType::kF32;
  int64_t rows = 0;  // out features
  int64_t cols = 0;  // in features
};

// Everything a kernel call needs besides its operands: the chosen ISA and the
// threads to use. Owned by whoever owns the model (one per engine thread); no
// global state, so two contexts can coexist in one process.
class Context {
 public:
  // n_threads <= 0: QG_THREADS, else the number of cores. isa: QG_FORCE_ISA, else best supported.
  explicit Context(int n_threads = 0);
  Context(int n_threads, Isa isa);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  Isa isa() const { return isa_; }
  int n_threads() const;
  ThreadPool& pool() const { return *pool_; }
  // The function pointers of isa(), chosen once here so kernels never test features per call.
  const KernelTable& table() const { return *table_; }

 private:
  Isa isa_;
  const KernelTable* table_;
  std::unique_ptr<ThreadPool> pool_;
};

Isa best_isa();  // from cpuid
// QG_FORCE_ISA, or fallback; throws on unknown/unsupported value.
Isa isa_from_env_or(Isa fallback);
// Parses an ISA name ("scalar", "avx2"); throws qg::Error naming `what` on an unknown name
// or on an ISA this CPU lacks. isa_from_env_or(f) is parse_isa(getenv("QG_FORCE_ISA")) when set.
Isa parse_isa(std::string_view name, std::string_view what = "QG_FORCE_ISA");
bool isa_supported(Isa isa);

// ---- The kernel interface. All pointers are non-aliasing unless said otherwise. ----

// Batch invariance (every kernel): each output is reduced in an order that does not
// depend on how many tokens (n) or sequences are in the call, so y[t, :] for one token is
// bitwise identical whether it is computed alone or among others (decode GEMV and prefill
// GEMM walk each dot product in the same k order). matmul_rows gives bitwise the same
// values as the corresponding rows of matmul. Tests compare bitwise, per ISA.

// y[n, W.rows] = x[n, W.cols] · Wᵀ. Multi-threaded over rows of W.
void matmul(const Context& ctx, const MatRef& w, const float* x, int64_t n, float* y);

// Several weights that read the same input, in one pass and one thread-pool round trip
// (fused q/k/v or gate/up projections): ys[i][n, ws[i].rows] = x[n, cols] · ws[i]ᵀ for
// i < n_w, where every ws[i].cols == cols. Bitwise identical to n_w separate matmul calls
// (each output keeps its canonical reduction order). 1 <= n_w <= kMatmulMultiMax; dtypes may
// differ; the outputs must not overlap each other or x.
constexpr int64_t kMatmulMultiMax = 8;
void matmul_multi(const Context& ctx, const MatRef* ws, int64_t n_w, const float* x, int64_t n,
                  float* const* ys);

// Only the listed rows of W: y[n, n_rows] = x[n, W.cols] · W[rows]ᵀ. For logits of
// a few allowed tokens (guard grammar) without computing the whole vocabulary.
void matmul_rows(const Context& ctx, const MatRef& w, const int32_t* rows, int64_t n_rows,
                 const float* x, int64_t n, float* y);

// Row `row` of W widened to f32: out[W.cols]. (Embedding lookup.)
void get_row(const MatRef& w, int64_t row, float* out);

// RMSNorm over each of n rows of length d, as HF Qwen3RMSNorm in f32:
// y = x * rsqrt(mean(x²) + eps) * weight.  x may alias y.  weight: [d] f32.
void rmsnorm(const Context& ctx, const float* x, const float* weight, int64_t n, int64_t d,
             float eps, float* y);

// RoPE, rotate-half (non-interleaved) form, in place on x[n, n_heads, head_dim] for
// token i at position pos[i]: pairs (j, j + head_dim/2) rotate by pos·θ^(−2j/head_dim).
// inv_freq[head_dim/2] is precomputed by the caller (in double, rounded to f32, as HF).
void rope(const Context& ctx, float* x, int64_t n, int64_t n_heads, int64_t head_dim,
          const int32_t* pos, const float* inv_freq);

// y[i] = silu(gate[i]) * up[i] for i < n·d. y may alias gate.
void silu_mul(const Context& ctx, const float* gate, const float* up, int64_t count, float* y);

// y[i] = a[i] + b[i]. y may alias a.
void add(const Context& ctx, const float* a, const float* b, int64_t count, float* y);

// Causal grouped-query attention for one sequence.
//   q:   [n_q, n_heads, head_dim]      queries of the new tokens at positions pos0 .. pos0+n_q-1
//   k,v: [n_kv_pos, n_kv_heads, head_dim] the sequence's cache, rows 0 .. pos0+n_q-1 valid
//        (the new tokens' keys/values already written)
//   out: [n_q, n_heads, head_dim]
// Query i attends to cache rows 0..pos0+i. Head h reads kv head h / (n_heads / n_kv_heads).
// scale = 1/sqrt(head_dim). scratch: at least attention_scratch_floats(ctx, n_q, n_kv_pos,
// n_heads) floats with n_kv_pos >= pos0 + n_q (e.g. the cache capacity; size it once).
// For prefill-sized calls the avx2 path also repacks K/V into per-thread memory owned
// by ctx's pool (ThreadPool::thread_scratch): it grows to the largest call, then is reused.
void attention(const Context& ctx, const float* q, int64_t n_q, int64_t pos0, const float* k,
               const float* v, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float scale,
               float* out, float* scratch);
size_t attention_scratch_floats(const Context& ctx, int64_t n_q, int64_t n_kv_pos, int64_t n_heads);


// ---- Paged KV cache (the engine's block pool). ----
// A sequence's keys and values of one layer live in fixed-size blocks of a pool:
// physical block b holds `block_tokens` positions as [block_tokens, n_kv_heads, head_dim]
// elements of `dtype` (kF32, or kF16 to halve KV memory), at k + b * block_stride elements.
// The sequence's block table maps logical block i (positions i*block_tokens ..) to a
// physical block. Attention reads the blocks in place: no per-call gather.
struct PagedKv {
  const void* k = nullptr;        // layer base of the K pool
  const void* v = nullptr;        // layer base of the V pool
  const int32_t* blocks = nullptr;  // [ceil(n_pos / block_tokens)] physical block ids
  int64_t block_tokens = 16;
  int64_t block_stride = 0;       // elements between physical blocks (>= block_tokens*kv_heads*head_dim)
  DType dtype = DType::kF32;
};

// Batch-invariant causal GQA attention for one sequence over a paged cache.
//   q:   [n_q, n_heads, head_dim]  queries of the new tokens at positions pos0 .. pos0+n_q-1
//   kv:  the sequence's cache; positions 0 .. pos0+n_q-1 valid (new tokens' K/V already stored)
//   out: [n_q, n_heads, head_dim]
// Query i attends to positions 0..pos0+i. The result for query i must be bitwise identical
// whatever n_q and pos0 split the sequence into (keys visited in a fixed block order, one
// fixed reduction order per query): prefill chunking and batching never change a result.
// scratch: at least attention_paged_scratch_floats(ctx, n_q, pos0 + n_q, n_heads, head_dim).
void attention_paged(const Context& ctx, const float* q, int64_t n_q, int64_t pos0, const PagedKv& kv,
                     int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float scale, float* out,
                     float* scratch);
size_t attention_paged_scratch_floats(const Context& ctx, int64_t n_q, int64_t n_pos, int64_t n_heads,
                                      int64_t head_dim);

// Stores rows[n, row_elems] (f32) at positions pos0 .. pos0+n-1 of a paged cache layer
// `base` (K or V pool of kv), converting to kv.dtype (f16: round to nearest even).
void kv_store(const Context& ctx, const float* rows, int64_t n, int64_t row_elems, int64_t pos0,
              void* base, const PagedKv& kv);

}  // namespace qg::kernels
