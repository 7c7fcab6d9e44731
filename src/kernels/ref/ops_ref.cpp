// Scalar reference of the element-wise and per-row kernels (RMSNorm, RoPE, SiLU·up,
// add) and the ref KernelTable. Written to mirror Hugging Face's Qwen3 modules in
// float32 step by step, because this is what the tests hold the fast paths to:
//   Qwen3RMSNorm: var = mean(x²); x * rsqrt(var + eps); then * weight
//   rotate-half RoPE with cos/sin of (float)pos * inv_freq[j], computed in f32
//   Qwen3MLP: silu(gate) * up, silu(g) = g / (1 + exp(-g))
#include <cmath>

#include "kernels/kernel_table.h"
#include "kernels/ref/ref_util.h"
#include "kernels/thread_pool.h"

namespace qg::kernels::ref {

void matmul(ThreadPool& pool, const MatRef& w, const float* x, int64_t n, float* y);
void matmul_rows(ThreadPool& pool, const MatRef& w, const int32_t* rows, int64_t n_rows,
                 const float* x, int64_t n, float* y);
void attention(ThreadPool& pool, const float* q, int64_t n_q, int64_t pos0, const float* k,
               const float* v, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float scale,
               float* out, float* scratch);
size_t attention_scratch_floats(int n_threads, int64_t n_q, int64_t n_kv_pos, int64_t n_heads);

// x, y: [n, d]; weight: [d]. x may alias y (each row is read fully before it is written).
static void rmsnorm(ThreadPool& pool, const float* x, const float* weight, int64_t n, int64_t d,
                    float eps, float* y) {
  pool.parallel_for(n, [&](int64_t i) {
    const float* xi = x + i * d;
    float* yi = y + i * d;
    float sum_sq = 0.0f;
    for (int64_t j = 0; j < d; ++j) sum_sq += xi[j] * xi[j];
    const float inv_rms = 1.0f / std::sqrt(sum_sq / static_cast<float>(d) + eps);
    for (int64_t j = 0; j < d; ++j) yi[j] = (xi[j] * inv_rms) * weight[j];
  });
}

// x: [n, n_heads, head_dim], rotated in place. For j < half = head_dim/2:
//   x'[j]        = x[j] cos θ − x[j+half] sin θ
//   x'[j + half] = x[j+half] cos θ + x[j] sin θ,   θ = (float)pos · inv_freq[j]
// (HF: q*cos + rotate_half(q)*sin with cos/sin repeated over both halves.)
static void rope(ThreadPool& pool, float* x, int64_t n, int64_t n_heads, int64_t head_dim,
                 const int32_t* pos, const float* inv_freq) {
  const int64_t half = head_dim / 2;
  pool.parallel_for(n, [&](int64_t i) {
    const float p = static_cast<float>(pos[i]);
    for (int64_t j = 0; j < half; ++j) {
      const float angle = p * inv_freq[j];
      const float c = std::cos(angle);
      const float s = std::sin(angle);
      for (int64_t h = 0; h < n_heads; ++h) {
        float* xh = x + (i * n_heads + h) * head_dim;
        const float a = xh[j];
        const float b = xh[j + half];
        xh[j] = a * c - b * s;
        xh[j + half] = b * c + a * s;
      }
    }
  });
}

// Chunk size for splitting flat element-wise work over threads.
constexpr int64_t kChunk = 4096;

static void silu_mul(ThreadPool& pool, const float* gate, const float* up, int64_t count,
                     float* y) {
  pool.parallel_for((count + kChunk - 1) / kChunk, [&](int64_t c) {
    const int64_t end = std::min(count, (c + 1) * kChunk);
    for (int64_t i = c * kChunk; i < end; ++i) {
      const float g = gate[i];
      y[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
  });
}

static void add(ThreadPool& pool, const float* a, const float* b, int64_t count, float* y) {
  pool.parallel_for((count + kChunk - 1) / kChunk, [&](int64_t c) {
    const int64_t end = std::min(count, (c + 1) * kChunk);
    for (int64_t i = c * kChunk; i < end; ++i) y[i] = a[i] + b[i];
  });
}

}  // namespace qg::kernels::ref

namespace qg::kernels {

const KernelTable& ref_table() {
  static constexpr KernelTable table = {
      Isa::kScalar,  ref::matmul, ref::matmul_rows, ref::rmsnorm,   ref::rope,
      ref::silu_mul, ref::add,    ref::attention,   ref::attention_scratch_floats,
  };
  return table;
}

}  // namespace qg::kernels
