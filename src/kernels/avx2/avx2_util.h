// Shared by the avx2/ kernels only (they are compiled with -mavx2 -mfma -mf16c; no
// other file may include this). Widening loads of 8 weights of each stored dtype to
// f32 and horizontal sums. bf16 → f32 is exact (shift into the top half); f16 → f32
// uses F16C and is exact too, so the fast paths see the same f32 weights as ref/.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "base/dtype.h"

namespace qg::kernels::avx2 {

// Eight consecutive weights starting at element index i of a row-major buffer.
template <DType D>
inline __m256 load8(const void* base, int64_t i) {
  if constexpr (D == DType::kF32) {
    return _mm256_loadu_ps(static_cast<const float*>(base) + i);
  } else {
    const __m128i h =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + i));
    if constexpr (D == DType::kBF16) {
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    } else {
      return _mm256_cvtph_ps(h);
    }
  }
}

// One weight, for tails shorter than 8.
template <DType D>
inline float load1(const void* base, int64_t i) {
  if constexpr (D == DType::kF32) {
    return static_cast<const float*>(base)[i];
  } else if constexpr (D == DType::kBF16) {
    return bf16_to_f32(static_cast<const uint16_t*>(base)[i]);
  } else {
    return _cvtsh_ss(static_cast<const uint16_t*>(base)[i]);
  }
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// The four horizontal sums of a..d as one vector {Σa, Σb, Σc, Σd}.
inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 ab = _mm256_hadd_ps(a, b);  // a01 a23 b01 b23 | a45 a67 b45 b67
  const __m256 cd = _mm256_hadd_ps(c, d);
  const __m256 abcd = _mm256_hadd_ps(ab, cd);  // a0123 b0123 c0123 d0123 | a4567 ...
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

// dot(x[n], w[i .. i+n)) with 8-wide FMAs and two accumulators.
template <DType D>
inline float dot(const float* x, const void* w, int64_t i, int64_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t c = 0;
  for (; c + 16 <= n; c += 16) {
    a0 = _mm256_fmadd_ps(load8<D>(w, i + c), _mm256_loadu_ps(x + c), a0);
    a1 = _mm256_fmadd_ps(load8<D>(w, i + c + 8), _mm256_loadu_ps(x + c + 8), a1);
  }
  if (c + 8 <= n) {
    a0 = _mm256_fmadd_ps(load8<D>(w, i + c), _mm256_loadu_ps(x + c), a0);
    c += 8;
  }
  float s = hsum(_mm256_add_ps(a0, a1));
  for (; c < n; ++c) s += x[c] * load1<D>(w, i + c);
  return s;
}

// e^x for 8 lanes, relative error ~2e-7 (a few ulp) over the normal range: x = n·ln2 + r
// with |r| <= ln2/2, e^r by a degree-6 polynomial (Cephes expf coefficients), then
// scaled by 2^n through the exponent bits. Below -87.3 (result not a normal f32) it
// returns 0; above 88.7 it returns +inf, like expf.
inline __m256 exp8(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.7228391f);
  const __m256 lo = _mm256_set1_ps(-87.3365448f);
  const __m256 over = _mm256_cmp_ps(x, hi, _CMP_GT_OQ);
  const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  // 2^n: n is in [-126, 128]; 2^128 is not representable, so scale by 2^(n-1) twice.
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i e1 = _mm256_slli_epi32(_mm256_add_epi32(ni, _mm256_set1_epi32(126)), 23);
  p = _mm256_mul_ps(p, _mm256_castsi256_ps(e1));
  p = _mm256_mul_ps(p, _mm256_set1_ps(2.0f));
  p = _mm256_blendv_ps(p, _mm256_setzero_ps(), under);
  return _mm256_blendv_ps(p, _mm256_set1_ps(__builtin_inff()), over);
}

}  // namespace qg::kernels::avx2
