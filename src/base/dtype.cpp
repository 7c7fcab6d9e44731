#include "base/dtype.h"

namespace qg {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    default: return 0;
  }
}

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kQ8_0: return "Q8_0";
    case DType::kQ4_0: return "Q4_0";
    case DType::kQ4_1: return "Q4_1";
    case DType::kQ5_0: return "Q5_0";
    case DType::kQ5_1: return "Q5_1";
    case DType::kQ2_K: return "Q2_K";
    case DType::kQ3_K: return "Q3_K";
    case DType::kQ4_K: return "Q4_K";
    case DType::kQ5_K: return "Q5_K";
    case DType::kQ6_K: return "Q6_K";
  }
  return "?";
}

bool dtype_is_quantized(DType t) { return dtype_block_elems(t) > 1; }

int64_t dtype_block_elems(DType t) {
  switch (t) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16: return 1;
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1: return 32;
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K: return 256;
  }
  return 1;
}

// ggml's block structs (ggml-common.h): f16 scales, packed quants. Sizes are part of the
// file format, so they are written out rather than derived from structs.
size_t dtype_block_bytes(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kQ8_0: return 34;   // f16 d, int8 qs[32]
    case DType::kQ4_0: return 18;   // f16 d, u8 qs[16]
    case DType::kQ4_1: return 20;   // f16 d, f16 m, u8 qs[16]
    case DType::kQ5_0: return 22;   // f16 d, u8 qh[4], u8 qs[16]
    case DType::kQ5_1: return 24;   // f16 d, f16 m, u8 qh[4], u8 qs[16]
    case DType::kQ2_K: return 84;   // u8 scales[16], u8 qs[64], f16 d, f16 dmin
    case DType::kQ3_K: return 110;  // u8 hmask[32], u8 qs[64], u8 scales[12], f16 d
    case DType::kQ4_K: return 144;  // f16 d, f16 dmin, u8 scales[12], u8 qs[128]
    case DType::kQ5_K: return 176;  // f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128]
    case DType::kQ6_K: return 210;  // u8 ql[128], u8 qh[64], int8 scales[16], f16 d
  }
  return 0;
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise the mantissa
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ffu;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t absb = bits & 0x7fffffffu;
  if (absb > 0x7f800000u) return sign | 0x7e00u;             // NaN
  if (absb >= 0x477ff000u) return sign | 0x7c00u;            // overflow -> inf
  if (absb < 0x33000001u) return sign;                       // underflow -> 0
  int32_t exp = static_cast<int32_t>(absb >> 23) - 127 + 15;
  uint32_t mant = absb & 0x7fffffu;
  if (exp <= 0) {  // subnormal half
    mant |= 0x800000u;
    const uint32_t shift = static_cast<uint32_t>(14 - exp);
    uint32_t half = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1u))) ++half;
    return sign | static_cast<uint16_t>(half);
  }
  uint32_t half = (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) ++half;  // may carry into exp: correct
  return sign | static_cast<uint16_t>(half);
}

}  // namespace qg
