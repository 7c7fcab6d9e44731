// Helpers for the kernel tests: seeded random inputs, weight buffers of each dtype,
// the list of ISAs this CPU can run, and a closeness check scaled by the magnitude of
// the terms that were summed (so cancellation does not make tolerances meaningless).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "kernels/kernels.h"

namespace qg::kernels::testing {

inline std::vector<Isa> supported_isas() {
  std::vector<Isa> out = {Isa::kScalar};
  if (isa_supported(Isa::kAvx2)) out.push_back(Isa::kAvx2);
  return out;
}

inline std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// A weight matrix [rows, cols] stored in `dtype`, plus its exact f32 values.
struct TestWeight {
  DType dtype;
  int64_t rows, cols;
  std::vector<uint8_t> bytes;  // [rows, cols] in dtype
  std::vector<float> values;   // [rows, cols] the stored values widened to f32

  MatRef ref() const { return MatRef{bytes.data(), dtype, rows, cols}; }
};

inline TestWeight make_weight(DType dtype, int64_t rows, int64_t cols, uint32_t seed) {
  TestWeight w{dtype, rows, cols, {}, {}};
  std::vector<float> raw = random_floats(static_cast<size_t>(rows * cols), seed);
  w.bytes.resize(raw.size() * dtype_size(dtype));
  w.values.resize(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (dtype == DType::kF32) {
      reinterpret_cast<float*>(w.bytes.data())[i] = raw[i];
      w.values[i] = raw[i];
    } else if (dtype == DType::kBF16) {
      uint16_t h = f32_to_bf16(raw[i]);
      reinterpret_cast<uint16_t*>(w.bytes.data())[i] = h;
      w.values[i] = bf16_to_f32(h);
    } else {
      uint16_t h = f32_to_f16(raw[i]);
      reinterpret_cast<uint16_t*>(w.bytes.data())[i] = h;
      w.values[i] = f16_to_f32(h);
    }
  }
  return w;
}

// |got - want| <= tol * scale[i] + 1e-30 for every element; reports the first failure.
inline void expect_close(const std::vector<float>& got, const std::vector<float>& want,
                         const std::vector<float>& scale, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (!(err <= tol * scale[i] + 1e-30)) {
      ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << want[i]
                    << " (error " << err << ", allowed " << tol * scale[i] << ")";
      return;
    }
  }
}

inline std::string isa_label(Isa isa, int threads) {
  return std::string(isa_name(isa)) + "/" + std::to_string(threads) + "t";
}

}  // namespace qg::kernels::testing

namespace qg::kernels::testing {
inline std::string cat_shape(int64_t n, int64_t rows, int64_t cols) {
  return "n=" + std::to_string(n) + " rows=" + std::to_string(rows) +
         " cols=" + std::to_string(cols);
}
}  // namespace qg::kernels::testing
