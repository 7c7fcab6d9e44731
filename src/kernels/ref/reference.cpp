// The scalar reference of every kernel: the oracle of the tests (the fast paths are
// held to it at ~1e-5 relative) and the path QG_FORCE_ISA=scalar selects. Written for
// clarity, not speed: plain loops, one f32 accumulator per output summed in index
// order, the weight dtype decoded per element. It mirrors Hugging Face's Qwen3 modules
// in float32 step by step:
//   nn.Linear:     y = x @ W.T
//   Qwen3RMSNorm:  var = mean(x²); x * rsqrt(var + eps); then * weight
//   RoPE:          rotate-half, cos/sin of (float)pos * inv_freq[j] computed in f32
//   Qwen3MLP:      silu(gate) * up, silu(g) = g / (1 + exp(-g))
//   attention:     softmax((q·kᵀ)·scale) computed stably (max subtracted), then · V,
//                  head h reading kv head h / (n_heads / n_kv_heads) (repeat_kv)
// Threads split independent outputs only, so the result does not depend on the
// thread count (a test checks that it is bit-identical).
#include <algorithm>
#include <cmath>

#include "base/dtype.h"
#include "kernels/kernel_table.h"
#include "kernels/thread_pool.h"

namespace qg::kernels::ref {

// ref/paged_ref.cpp
void attention_paged(ThreadPool& pool, const float* q, int64_t n_q, int64_t pos0, const PagedKv& kv,
                     int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float scale, float* out,
                     float* scratch);
size_t attention_paged_scratch_floats(int n_threads, int64_t n_q, int64_t n_pos, int64_t n_heads,
                                      int64_t head_dim);
void kv_store(ThreadPool& pool, const float* rows, int64_t n, int64_t row_elems, int64_t pos0,
              void* base, const PagedKv& kv);

namespace {

// Element (r, c) of w, widened to f32 exactly (bf16 and f16 are subsets of f32).
inline float weight_at(const MatRef& w, int64_t r, int64_t c) {
  const int64_t i = r * w.cols + c;
  switch (w.dtype) {
    case DType::kF32:
      return static_cast<const float*>(w.data)[i];
    case DType::kBF16:
      return bf16_to_f32(static_cast<const uint16_t*>(w.data)[i]);
    case DType::kF16:
      return f16_to_f32(static_cast<const uint16_t*>(w.data)[i]);
  }
  return 0.0f;
}

// ---- matmul ----

// One output: dot(x[cols], W[r, :]).
float dot_row(const MatRef& w, int64_t r, const float* x) {
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

// ys[i][n, ws[i].rows] = x[n, cols] · ws[i]ᵀ: one matmul after the other.
void matmul_multi(ThreadPool& pool, const MatRef* ws, int64_t n_w, const float* x, int64_t n,
                  float* const* ys) {
  for (int64_t i = 0; i < n_w; ++i) {
    if (ws[i].rows > 0) matmul(pool, ws[i], x, n, ys[i]);
  }
}

// y[n, n_rows] = x[n, w.cols] · w[rows]ᵀ
void matmul_rows(ThreadPool& pool, const MatRef& w, const int32_t* rows, int64_t n_rows,
                 const float* x, int64_t n, float* y) {
  pool.parallel_for(n_rows, [&](int64_t i) {
    for (int64_t t = 0; t < n; ++t) y[t * n_rows + i] = dot_row(w, rows[i], x + t * w.cols);
  });
}

// ---- per-row and element-wise ----

// x, y: [n, d]; weight: [d]. x may alias y (each row is read fully before it is written).
void rmsnorm(ThreadPool& pool, const float* x, const float* weight, int64_t n, int64_t d, float eps,
             float* y) {
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
void rope(ThreadPool& pool, float* x, int64_t n, int64_t n_heads, int64_t head_dim,
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

void silu_mul(ThreadPool& pool, const float* gate, const float* up, int64_t count, float* y) {
  pool.parallel_for((count + kChunk - 1) / kChunk, [&](int64_t c) {
    const int64_t end = std::min(count, (c + 1) * kChunk);
    for (int64_t i = c * kChunk; i < end; ++i) {
      const float g = gate[i];
      y[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
  });
}

void add(ThreadPool& pool, const float* a, const float* b, int64_t count, float* y) {
  pool.parallel_for((count + kChunk - 1) / kChunk, [&](int64_t c) {
    const int64_t end = std::min(count, (c + 1) * kChunk);
    for (int64_t i = c * kChunk; i < end; ++i) y[i] = a[i] + b[i];
  });
}

// ---- attention ----

// One score row per thread: [n_threads, n_kv_pos].
size_t attention_scratch_floats(int n_threads, int64_t n_q, int64_t n_kv_pos, int64_t n_heads) {
  return static_cast<size_t>(n_threads) * static_cast<size_t>(n_kv_pos);
}

// q, out: [n_q, n_heads, head_dim]; k, v: [n_kv_pos, n_kv_heads, head_dim].
void attention(ThreadPool& pool, const float* q, int64_t n_q, int64_t pos0, const float* k,
               const float* v, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float scale,
               float* out, float* scratch) {
  const int64_t group = n_heads / n_kv_heads;
  const int64_t n_kv = pos0 + n_q;  // cache rows the last query sees
  // Tasks are (query, head) pairs; each thread owns one score row of scratch.
  pool.parallel_ranges(n_q * n_heads, [&](int64_t begin, int64_t end, int thread) {
    float* scores = scratch + thread * n_kv;  // [n_kv]
    for (int64_t task = begin; task < end; ++task) {
      const int64_t i = task / n_heads;
      const int64_t h = task % n_heads;
      const int64_t kvh = h / group;
      const int64_t n_seen = pos0 + i + 1;  // causal: rows 0 .. pos0+i
      const float* qi = q + (i * n_heads + h) * head_dim;

      float max_s = -INFINITY;
      for (int64_t j = 0; j < n_seen; ++j) {
        const float* kj = k + (j * n_kv_heads + kvh) * head_dim;
        float dot = 0.0f;
        for (int64_t d = 0; d < head_dim; ++d) dot += qi[d] * kj[d];
        scores[j] = dot * scale;
        max_s = std::max(max_s, scores[j]);
      }
      float sum = 0.0f;
      for (int64_t j = 0; j < n_seen; ++j) {
        scores[j] = std::exp(scores[j] - max_s);
        sum += scores[j];
      }
      float* oi = out + (i * n_heads + h) * head_dim;
      for (int64_t d = 0; d < head_dim; ++d) oi[d] = 0.0f;
      for (int64_t j = 0; j < n_seen; ++j) {
        const float p = scores[j] / sum;
        const float* vj = v + (j * n_kv_heads + kvh) * head_dim;
        for (int64_t d = 0; d < head_dim; ++d) oi[d] += p * vj[d];
      }
    }
  });
}

}  // namespace
}  // namespace qg::kernels::ref

namespace qg::kernels {

const KernelTable& ref_table() {
  static constexpr KernelTable table = {
      Isa::kScalar, ref::matmul,    ref::matmul_multi, ref::matmul_rows,
      ref::rmsnorm, ref::rope,      ref::silu_mul,
      ref::add,     ref::attention, ref::attention_scratch_floats,
      ref::attention_paged, ref::attention_paged_scratch_floats, ref::kv_store,
  };
  return table;
}

}  // namespace qg::kernels
