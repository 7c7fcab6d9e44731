// Internal to kernels/: matmul over GGUF block-quantized weights (Q8_0, Q4_0, Q4_1, Q5_0,
// Q5_1, Q2_K..Q6_K). dispatch.cpp routes every MatRef whose dtype is quantized here.
//
// Numerics (the contract both paths implement, ref/quant_ref.cpp being the oracle):
//  * Each weight block is first unpacked, exactly, into a "canonical" form per 32 elements:
//    int8 q[32], and per half-block of 16 a float scale s and a float offset m, such that
//    the weight is s * q - m bit for bit as ggml's dequantize_row_* computes it (ggml's
//    K-quants have 16- or 32-element sub-blocks, so halves of 16 cover every type).
//  * Activations are quantized per 32-element block, once per call and per token:
//    d = amax / 127, q = nearbyint(x * (127 / amax)) (int8 in [-127, 127]); the half-block
//    sums Σq are kept too, scaled: xs = d * Σq, for the offset term.
//  * dot(w_row, x) = Σ_blocks Σ_halves (s · d) · Σ(q_w · q_x)  −  Σ_halves m · xs.
//    Integer products are exact; only the float accumulation order differs between the
//    scalar and the AVX2 path (tests hold them to 1e-5 relative to Σ|terms|).
//  * Batch invariance: the quantized x of a token, and the sequence of operations that
//    produces one output (token, row), do not depend on how many tokens or rows the call
//    has, nor on the thread split: n calls of one token give bitwise the results of one
//    call of n tokens, on each path.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernels.h"

namespace qg::kernels {

class ThreadPool;

namespace quant {

// A weight row in canonical form; `cols` is a multiple of 32.
struct CanonRow {
  int8_t* q;     // [cols]
  float* scale;  // [cols / 16]
  float* off;    // [cols / 16]  weight = scale * q - off
};

// The quantized activations of one token.
struct ActRow {
  const int8_t* q;  // [cols]
  const float* d;   // [cols / 32]
  const float* xs;  // [cols / 16]  d * Σ q over each half-block
};

// Bytes of one token's quantized activations, 32-byte aligned pieces (see act_row()).
size_t act_row_bytes(int64_t cols);

// matmul over a quantized W. rows == nullptr: all rows (n_rows == w.rows), y[n, w.rows];
// else only w[rows[i]], y[n, n_rows].
using QMatmulFn = void (*)(ThreadPool& pool, const MatRef& w, const int32_t* rows,
                           int64_t n_rows, const float* x, int64_t n, float* y);

namespace ref {
void qmatmul(ThreadPool& pool, const MatRef& w, const int32_t* rows, int64_t n_rows,
             const float* x, int64_t n, float* y);
// Canonical unpacking of one row (the oracle of the unpack code).
void unpack_row(DType t, const void* row, int64_t cols, CanonRow out);
// The activation quantizer both paths must reproduce bit for bit. `buf` has
// act_row_bytes(cols) bytes; returns the views into it.
ActRow quantize_act(const float* x, int64_t cols, void* buf);
float dot(const int8_t* wq, const float* wscale, const float* woff, bool has_off, ActRow a,
          int64_t cols);
}  // namespace ref

namespace avx2 {
void qmatmul(ThreadPool& pool, const MatRef& w, const int32_t* rows, int64_t n_rows,
             const float* x, int64_t n, float* y);
}  // namespace avx2

// Whether the type's canonical form can have nonzero offsets (types with a min or m).
bool has_offset(DType t);

}  // namespace quant
}  // namespace qg::kernels
