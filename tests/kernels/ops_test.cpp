// RMSNorm, RoPE, SiLU·up and add: the scalar reference against the formulas written
// out in double (as HF's Qwen3 modules define them), then every ISA and thread count
// against the reference, including in-place calls (y aliasing x / gate / a).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <algorithm>

#include "base/error.h"
#include "kernels/kernels.h"
#include "kernels_test_util.h"

namespace qg::kernels {
namespace {

using testing::expect_close;
using testing::random_floats;

TEST(Rmsnorm, ReferenceAndFastPathsMatchFormula) {
  for (int64_t d : {1, 7, 16, 100, 1024}) {
    const int64_t n = d == 1024 ? 40 : 5;  // 40 rows of 1024: enough to use threads
    std::vector<float> x = random_floats(n * d, 1, -3.0f, 3.0f);
    std::vector<float> wt = random_floats(d, 2, 0.5f, 1.5f);
    std::vector<float> want(n * d), scale(n * d);
    for (int64_t i = 0; i < n; ++i) {
      double ss = 0.0;
      for (int64_t j = 0; j < d; ++j) ss += double(x[i * d + j]) * x[i * d + j];
      const double inv = 1.0 / std::sqrt(ss / d + 1e-6);
      for (int64_t j = 0; j < d; ++j) {
        want[i * d + j] = static_cast<float>(x[i * d + j] * inv * wt[j]);
        scale[i * d + j] = std::fabs(want[i * d + j]) + 1e-6f;
      }
    }
    for (Isa isa : testing::supported_isas()) {
      for (int threads : {1, 2, 3}) {
        Context ctx(threads, isa);
        std::vector<float> got(n * d);
        rmsnorm(ctx, x.data(), wt.data(), n, d, 1e-6f, got.data());
        expect_close(got, want, scale, 1e-5, testing::isa_label(isa, threads));
        std::vector<float> inplace = x;  // y aliases x
        rmsnorm(ctx, inplace.data(), wt.data(), n, d, 1e-6f, inplace.data());
        expect_close(inplace, want, scale, 1e-5, "in place " + testing::isa_label(isa, threads));
      }
    }
  }
}

// HF: inv_freq = 1 / theta^(arange(0, d, 2) / d), in f32.
std::vector<float> inv_freq_for(int64_t head_dim, double theta) {
  std::vector<float> f(head_dim / 2);
  for (int64_t j = 0; j < head_dim / 2; ++j) {
    f[j] = static_cast<float>(1.0 / std::pow(theta, double(2 * j) / double(head_dim)));
  }
  return f;
}

TEST(Rope, RotatesPairsHalfApart) {
  for (int64_t head_dim : {2, 8, 12, 64, 128}) {
    for (int64_t n_heads : {1, 3, 16}) {
      const int64_t n = 7;
      const std::vector<int32_t> pos = {0, 1, 2, 17, 511, 4096, 40000};
      const std::vector<float> inv_freq = inv_freq_for(head_dim, 1000000.0);
      const std::vector<float> x = random_floats(n * n_heads * head_dim, 3);
      const int64_t half = head_dim / 2;
      std::vector<float> want(x.size()), scale(x.size());
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t h = 0; h < n_heads; ++h) {
          for (int64_t j = 0; j < half; ++j) {
            const size_t a = (i * n_heads + h) * head_dim + j, b = a + half;
            const float angle = static_cast<float>(pos[i]) * inv_freq[j];  // f32, as HF
            const double c = std::cos(double(angle)), s = std::sin(double(angle));
            want[a] = static_cast<float>(x[a] * c - x[b] * s);
            want[b] = static_cast<float>(x[b] * c + x[a] * s);
            scale[a] = scale[b] = std::fabs(x[a]) + std::fabs(x[b]);
          }
        }
      }
      for (Isa isa : testing::supported_isas()) {
        for (int threads : {1, 2}) {
          Context ctx(threads, isa);
          std::vector<float> got = x;
          rope(ctx, got.data(), n, n_heads, head_dim, pos.data(), inv_freq.data());
          expect_close(got, want, scale, 1e-5,
                       testing::isa_label(isa, threads) + " head_dim=" + std::to_string(head_dim));
        }
      }
    }
  }
}

TEST(Rope, RejectsOddHeadDim) {
  Context ctx(1);
  float x[3] = {};
  int32_t pos = 0;
  float f = 1.0f;
  EXPECT_THROW(rope(ctx, x, 1, 1, 3, &pos, &f), Error);
}

TEST(SiluMul, MatchesFormulaInPlaceToo) {
  for (int64_t count : {1, 7, 9, 3072, 20000}) {
    const std::vector<float> gate = random_floats(count, 4, -30.0f, 30.0f);
    const std::vector<float> up = random_floats(count, 5, -2.0f, 2.0f);
    std::vector<float> want(count), scale(count);
    for (int64_t i = 0; i < count; ++i) {
      const double g = gate[i];
      want[i] = static_cast<float>(g / (1.0 + std::exp(-g)) * up[i]);
      scale[i] = std::fabs(want[i]) + 1e-30f;
    }
    for (Isa isa : testing::supported_isas()) {
      for (int threads : {1, 3}) {
        Context ctx(threads, isa);
        std::vector<float> got(count);
        silu_mul(ctx, gate.data(), up.data(), count, got.data());
        expect_close(got, want, scale, 1e-5, testing::isa_label(isa, threads));
        std::vector<float> inplace = gate;  // y aliases gate
        silu_mul(ctx, inplace.data(), up.data(), count, inplace.data());
        expect_close(inplace, want, scale, 1e-5, "in place " + testing::isa_label(isa, threads));
      }
    }
  }
}

TEST(SiluMul, ExtremeGates) {
  // e^-g overflows for g < -88.7; silu(g) must then be (-)0, not NaN.
  std::vector<float> gate = {-1000.0f, -100.0f, -88.0f, 0.0f, 88.0f, 100.0f, 1000.0f, -50.0f, 3.0f};
  std::vector<float> up(gate.size(), 1.0f);
  for (Isa isa : testing::supported_isas()) {
    Context ctx(1, isa);
    std::vector<float> y(gate.size());
    silu_mul(ctx, gate.data(), up.data(), static_cast<int64_t>(gate.size()), y.data());
    for (size_t i = 0; i < gate.size(); ++i) {
      const double g = gate[i];
      const double want = g / (1.0 + std::exp(-g));
      EXPECT_NEAR(y[i], want, 1e-5 * std::fabs(want) + 1e-30) << isa_name(isa) << " g=" << g;
    }
  }
}

TEST(Add, ExactInPlaceToo) {
  for (int64_t count : {1, 9, 1024, 20001}) {
    const std::vector<float> a = random_floats(count, 6), b = random_floats(count, 7);
    for (Isa isa : testing::supported_isas()) {
      for (int threads : {1, 2, 3}) {
        Context ctx(threads, isa);
        std::vector<float> got(count), inplace = a;
        add(ctx, a.data(), b.data(), count, got.data());
        add(ctx, inplace.data(), b.data(), count, inplace.data());
        for (int64_t i = 0; i < count; ++i) {
          ASSERT_EQ(got[i], a[i] + b[i]) << i;
          ASSERT_EQ(inplace[i], a[i] + b[i]) << i;
        }
      }
    }
  }
}

// Batch invariance of the per-row and element-wise kernels: a token's row computed in a
// call over n tokens is bitwise the row computed alone (sizes not multiples of 8, calls
// longer than one work chunk so chunk ends fall inside tokens).
TEST(OpsInvariance, EachTokenAloneEqualsBatchBitwise) {
  const int64_t n = 20;
  for (int64_t d : {7, 100, 1000, 1024}) {
    std::vector<float> x = random_floats(n * d, 71, -6.0f, 6.0f);
    std::vector<float> b = random_floats(n * d, 72, -6.0f, 6.0f);
    std::vector<float> wt = random_floats(d, 73, 0.5f, 1.5f);
    const int64_t heads = 2, head_dim = d % 4 == 0 ? d / heads : 0;  // rope needs even head_dim
    std::vector<float> inv_freq = inv_freq_for(std::max<int64_t>(head_dim, 2), 1e6);
    std::vector<int32_t> pos(n);
    for (int64_t i = 0; i < n; ++i) pos[i] = static_cast<int32_t>(37 * i + 5);
    for (Isa isa : testing::supported_isas()) {
      for (int threads : {1, 2, 3}) {
        Context ctx(threads, isa);
        const std::string what = testing::isa_label(isa, threads) + " d=" + std::to_string(d);
        auto check = [&](const char* op, auto run) {
          std::vector<float> all(n * d), one(n * d);
          run(0, n, all.data());
          for (int64_t i = 0; i < n; ++i) run(i, 1, one.data() + i * d);
          EXPECT_EQ(0, std::memcmp(all.data(), one.data(), all.size() * 4)) << op << " " << what;
        };
        check("rmsnorm", [&](int64_t i0, int64_t m, float* out) {
          rmsnorm(ctx, x.data() + i0 * d, wt.data(), m, d, 1e-6f, out);
        });
        check("silu_mul", [&](int64_t i0, int64_t m, float* out) {
          silu_mul(ctx, x.data() + i0 * d, b.data() + i0 * d, m * d, out);
        });
        check("add", [&](int64_t i0, int64_t m, float* out) {
          add(ctx, x.data() + i0 * d, b.data() + i0 * d, m * d, out);
        });
        if (head_dim > 0) {
          check("rope", [&](int64_t i0, int64_t m, float* out) {
            std::copy_n(x.data() + i0 * d, m * d, out);
            rope(ctx, out, m, heads, head_dim, pos.data() + i0, inv_freq.data());
          });
        }
      }
    }
  }
}

}  // namespace
}  // namespace qg::kernels
