// Scalar reference of the quantized matmul (kernels/quant.h): canonical unpacking of each
// ggml block type, the activation quantizer, and the dot product, written as plainly as
// possible. It is the oracle of tests/kernels/quant_test.cpp and the QG_FORCE_ISA=scalar
// path. Also the public helpers of kernels/quantize.h (get_row dequantization, Q8_0
// quantization of a float matrix for --dtype q8_0).
#include <algorithm>
#include <cmath>
#include <vector>

#include "base/dtype.h"
#include "base/error.h"
#include "kernels/quant.h"
#include "kernels/quantize.h"
#include "kernels/thread_pool.h"

namespace qg::kernels {
namespace quant {
namespace {
inline float h2f(uint16_t h) { return f16_to_f32(h); }
#include "kernels/quant_unpack.inc"

size_t align32(size_t n) { return (n + 31) & ~size_t{31}; }
}  // namespace

size_t act_row_bytes(int64_t cols) {
  const size_t c = static_cast<size_t>(cols);
  return align32(c) + align32(c / 32 * sizeof(float)) + align32(c / 16 * sizeof(float));
}

bool has_offset(DType t) {
  return t == DType::kQ4_1 || t == DType::kQ5_1 || t == DType::kQ2_K || t == DType::kQ4_K ||
         t == DType::kQ5_K;
}

namespace ref {

void unpack_row(DType t, const void* row, int64_t cols, CanonRow out) {
  unpack_row_impl(t, static_cast<const uint8_t*>(row), cols, out.q, out.scale, out.off);
}

ActRow quantize_act(const float* x, int64_t cols, void* buf) {
  const size_t c = static_cast<size_t>(cols);
  auto* q = static_cast<int8_t*>(buf);
  auto* d = reinterpret_cast<float*>(static_cast<uint8_t*>(buf) + align32(c));
  auto* xs = reinterpret_cast<float*>(reinterpret_cast<uint8_t*>(d) + align32(c / 32 * sizeof(float)));
  for (int64_t b = 0; b < cols / 32; ++b) {
    const float* xb = x + 32 * b;
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float db = amax / 127.0f;
    const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
    int sum[2] = {0, 0};
    for (int j = 0; j < 32; ++j) {
      const float v = std::nearbyint(xb[j] * id);
      const int qi = static_cast<int>(std::clamp(v, -127.0f, 127.0f));
      q[32 * b + j] = static_cast<int8_t>(qi);
      sum[j / 16] += qi;
    }
    d[b] = db;
    xs[2 * b] = db * static_cast<float>(sum[0]);
    xs[2 * b + 1] = db * static_cast<float>(sum[1]);
  }
  return ActRow{q, d, xs};
}

float dot(const int8_t* wq, const float* ws, const float* wo, bool has_off, ActRow a,
          int64_t cols) {
  float acc = 0.0f;
  for (int64_t h = 0; h < cols / 16; ++h) {
    int32_t isum = 0;
    for (int j = 0; j < 16; ++j) isum += int32_t{wq[16 * h + j]} * int32_t{a.q[16 * h + j]};
    acc += (ws[h] * a.d[h / 2]) * static_cast<float>(isum);
  }
  if (has_off) {
    float off = 0.0f;
    for (int64_t h = 0; h < cols / 16; ++h) off += wo[h] * a.xs[h];
    acc -= off;
  }
  return acc;
}

void qmatmul(ThreadPool& pool, const MatRef& w, const int32_t* rows, int64_t n_rows,
             const float* x, int64_t n, float* y) {
  const int64_t cols = w.cols;
  const size_t abytes = act_row_bytes(cols);
  std::vector<uint8_t> abuf(abytes * static_cast<size_t>(n) + 32);
  uint8_t* base = abuf.data() + ((32 - reinterpret_cast<uintptr_t>(abuf.data()) % 32) % 32);
  std::vector<ActRow> acts(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) acts[t] = quantize_act(x + t * cols, cols, base + t * abytes);
  const size_t rb = dtype_row_bytes(w.dtype, cols);
  const bool off = has_offset(w.dtype);
  pool.parallel_ranges(n_rows, [&](int64_t i0, int64_t i1, int) {
    std::vector<int8_t> q(static_cast<size_t>(cols));
    std::vector<float> s(static_cast<size_t>(cols / 16)), m(static_cast<size_t>(cols / 16));
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t r = rows != nullptr ? rows[i] : i;
      unpack_row(w.dtype, static_cast<const uint8_t*>(w.data) + static_cast<size_t>(r) * rb, cols,
                 CanonRow{q.data(), s.data(), m.data()});
      for (int64_t t = 0; t < n; ++t) {
        y[t * n_rows + i] = dot(q.data(), s.data(), m.data(), off, acts[t], cols);
      }
    }
  });
}

}  // namespace ref
}  // namespace quant

// ---- kernels/quantize.h ----

void dequantize_row(DType t, const void* row, int64_t cols, float* out) {
  QG_CHECK(dtype_is_quantized(t) && cols % dtype_block_elems(t) == 0, "dequantize_row: ",
           dtype_name(t), " row of ", cols, " elements");
  // Block by block on the stack: the embedding lookup calls this per token, and the forward
  // pass allocates nothing.
  const int64_t be = dtype_block_elems(t);
  const size_t bb = dtype_block_bytes(t);
  int8_t q[256];
  float s[16], m[16];
  for (int64_t b = 0; b < cols / be; ++b) {
    quant::ref::unpack_row(t, static_cast<const uint8_t*>(row) + static_cast<size_t>(b) * bb, be,
                           quant::CanonRow{q, s, m});
    for (int64_t j = 0; j < be; ++j) out[b * be + j] = s[j / 16] * static_cast<float>(q[j]) - m[j / 16];
  }
}

// ggml's quantize_row_q8_0_ref: d = amax / 127, q = round(x / d) (half away from zero,
// as roundf), d stored as f16. Applied to a bf16 checkpoint it gives the same blocks as
// llama-quantize Q8_0 applied to the same weights in f32.
void quantize_row_q8_0(const float* x, int64_t cols, void* out) {
  QG_CHECK(cols % 32 == 0, "quantize_row_q8_0: ", cols, " is not a multiple of 32");
  auto* o = static_cast<uint8_t*>(out);
  for (int64_t b = 0; b < cols / 32; ++b, o += 34) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[32 * b + j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t dh = f32_to_f16(d);
    o[0] = static_cast<uint8_t>(dh & 0xFF);
    o[1] = static_cast<uint8_t>(dh >> 8);
    for (int j = 0; j < 32; ++j) {
      o[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(std::round(x[32 * b + j] * id)));
    }
  }
}

void quantize_matrix_q8_0(const Context& ctx, const MatRef& src, void* dst) {
  QG_CHECK(!dtype_is_quantized(src.dtype) && src.cols % 32 == 0, "quantize_matrix_q8_0: ",
           dtype_name(src.dtype), " [", src.rows, ", ", src.cols, "]");
  const size_t rb = dtype_row_bytes(DType::kQ8_0, src.cols);
  ctx.pool().parallel_ranges(src.rows, [&](int64_t r0, int64_t r1, int) {
    std::vector<float> row(static_cast<size_t>(src.cols));
    for (int64_t r = r0; r < r1; ++r) {
      get_row(src, r, row.data());
      quantize_row_q8_0(row.data(), src.cols, static_cast<uint8_t*>(dst) + static_cast<size_t>(r) * rb);
    }
  }, 16);
}

}  // namespace qg::kernels
