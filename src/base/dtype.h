// Element types of stored tensors and their conversions to f32. Shared by weights/
// (which reads them from files) and kernels/ (which computes with them), so it
// lives in base/ where neither depends on the other.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace qg {

enum class DType : uint8_t { kF32, kF16, kBF16 };

size_t dtype_size(DType t);
std::string_view dtype_name(DType t);  // "F32", "F16", "BF16" (safetensors spelling)

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
