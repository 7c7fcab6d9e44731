// Shared by the scalar reference kernels: reading one weight element of any stored
// dtype as f32. Deliberately simple (a switch per element); speed is avx2/'s job.
#pragma once

#include <cstdint>

#include "base/dtype.h"
#include "kernels/kernels.h"

namespace qg::kernels::ref {

// Element (r, c) of w, widened to f32 exactly (bf16 and f16 are subsets of f32).
inline float weight_at(const MatRef& w, int64_t r, int64_t c) {
  const int64_t i = r * w.cols + c;
  switch (w.dtype) {
    case DType::kF32: return static_cast<const float*>(w.data)[i];
    case DType::kBF16: return bf16_to_f32(static_cast<const uint16_t*>(w.data)[i]);
    case DType::kF16: return f16_to_f32(static_cast<const uint16_t*>(w.data)[i]);
  }
  return 0.0f;
}

}  // namespace qg::kernels::ref
