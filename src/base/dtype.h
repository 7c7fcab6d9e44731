// Element types of stored tensors and their conversions to f32. Shared by weights/
// (which reads them from files) and kernels/ (which computes with them), so it
// lives in base/ where neither depends on the other.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace qg {

// kF32..kBF16 are element types. The rest are GGUF's (ggml's) block-quantized formats:
// a row of `cols` elements is cols / dtype_block_elems() blocks of dtype_block_bytes()
// bytes each, laid out exactly as ggml stores them (docs/gguf.md has the layouts).
enum class DType : uint8_t {
  kF32, kF16, kBF16,
  kQ8_0, kQ4_0, kQ4_1, kQ5_0, kQ5_1,  // 32-element blocks
  kQ2_K, kQ3_K, kQ4_K, kQ5_K, kQ6_K,  // 256-element super-blocks ("k-quants")
};

// Bytes per element of an element type; 0 for a block-quantized type (use the block helpers).
size_t dtype_size(DType t);
std::string_view dtype_name(DType t);  // "F32", "F16", "BF16" (safetensors spelling), "Q8_0", "Q4_K", ...
bool dtype_is_quantized(DType t);
// Elements per block: 1 for element types, 32 or 256 for quantized ones.
int64_t dtype_block_elems(DType t);
// Bytes per block: dtype_size() for element types.
size_t dtype_block_bytes(DType t);
// Bytes of one row of `cols` elements (cols must be a multiple of dtype_block_elems).
inline size_t dtype_row_bytes(DType t, int64_t cols) {
  return static_cast<size_t>(cols / dtype_block_elems(t)) * dtype_block_bytes(t);
}

// bf16 is the top half of an f32: widening is a shift, exact.
inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Round-to-nearest-even, as torch does when it casts f32 to bf16; NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

// IEEE half to float, exact for every value including subnormals, inf and NaN.
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

}  // namespace qg
