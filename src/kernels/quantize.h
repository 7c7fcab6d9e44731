// Public helpers for block-quantized weights (GGUF's formats, base/dtype.h): exact
// dequantization of a row (what ggml's dequantize_row_* gives, bit for bit) and the Q8_0
// quantizer used by `--dtype q8_0` to quantize an f32/f16/bf16 checkpoint at load.
// The matmul over quantized weights is kernels::matmul itself (it dispatches on
// MatRef::dtype); its numerics are described in kernels/quant.h and docs/kernels.md.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"

namespace qg::kernels {

// out[cols] = the f32 values of one quantized row (cols a multiple of the block size).
void dequantize_row(DType t, const void* row, int64_t cols, float* out);

// One row of cols (multiple of 32) floats -> cols / 32 Q8_0 blocks (34 bytes each), as
// ggml's quantize_row_q8_0_ref.
void quantize_row_q8_0(const float* x, int64_t cols, void* out);

// Every row of an f32/f16/bf16 matrix into Q8_0; dst has rows * dtype_row_bytes(kQ8_0,
// cols) bytes. Multi-threaded over rows.
void quantize_matrix_q8_0(const Context& ctx, const MatRef& src, void* dst);

}  // namespace qg::kernels
