// Quantized matmul (GGUF block types, kernels/quant.h): for every type, the scalar
// reference against a double-precision product of the exactly dequantized weights (within
// the activation-quantization error bound), the AVX2 path against the reference, and batch
// invariance — n tokens in one call vs n calls of one token, bitwise, on every ISA, with
// 1 and 3 threads, for matmul and matmul_rows. Plus the Q8_0 quantizer.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "base/dtype.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "kernels/quantize.h"
#include "kernels_test_util.h"

namespace qg::kernels {
namespace {

using testing::random_floats;
using testing::supported_isas;

const DType kQuantTypes[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
                             DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

// Byte offsets of the f16 fields (d, dmin/m) inside one block, per ggml's structs.
std::vector<int> f16_fields(DType t) {
  switch (t) {
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ5_0: return {0};
    case DType::kQ4_1:
    case DType::kQ5_1:
    case DType::kQ4_K:
    case DType::kQ5_K: return {0, 2};
    case DType::kQ2_K: return {80, 82};
    case DType::kQ3_K: return {108};
    case DType::kQ6_K: return {208};
    default: return {};
  }
}

// A quantized matrix of random blocks: random bytes everywhere (every bit pattern of the
// quants and packed scales is valid), with the f16 scale fields set to finite values.
struct QWeight {
  DType t;
  int64_t rows, cols;
  std::vector<uint8_t> bytes;
  std::vector<float> values;  // dequantized, [rows, cols]
  MatRef ref() const { return MatRef{bytes.data(), t, rows, cols}; }
};

QWeight make_qweight(DType t, int64_t rows, int64_t cols, uint32_t seed) {
  QWeight w{t, rows, cols, {}, {}};
  const size_t rb = dtype_row_bytes(t, cols);
  w.bytes.resize(rb * static_cast<size_t>(rows));
  std::mt19937 rng(seed);
  for (auto& b : w.bytes) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> scale(-0.02f, 0.02f);
  const size_t bb = dtype_block_bytes(t);
  for (size_t off = 0; off < w.bytes.size(); off += bb) {
    for (int f : f16_fields(t)) {
      const uint16_t h = f32_to_f16(scale(rng));
      std::memcpy(&w.bytes[off + static_cast<size_t>(f)], &h, 2);
    }
  }
  w.values.resize(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    dequantize_row(t, w.bytes.data() + rb * static_cast<size_t>(r), cols, w.values.data() + r * cols);
  }
  return w;
}

struct QShape {
  int64_t n, rows, cols;
};
// rows around the 4-row tiles, tokens around the 2-token pairs.
const QShape kQShapes[] = {{1, 1, 256}, {1, 7, 512}, {2, 5, 256}, {3, 9, 768}, {8, 13, 256},
                           {17, 4, 512}};

std::string label(DType t, const QShape& s) {
  return std::string(dtype_name(t)) + " " + testing::cat_shape(s.n, s.rows, s.cols);
}

TEST(QuantMatmul, ReferenceWithinActivationQuantizationError) {
  Context ref(1, Isa::kScalar);
  for (DType t : kQuantTypes) {
    for (const QShape& s : kQShapes) {
      const QWeight w = make_qweight(t, s.rows, s.cols, 5);
      const std::vector<float> x = random_floats(static_cast<size_t>(s.n * s.cols), 6);
      std::vector<float> y(static_cast<size_t>(s.n * s.rows));
      matmul(ref, w.ref(), x.data(), s.n, y.data());
      for (int64_t tk = 0; tk < s.n; ++tk) {
        for (int64_t r = 0; r < s.rows; ++r) {
          // |Σ w (x - x̂)| <= Σ_blocks (d_b / 2) Σ|w|, d_b = amax_b / 127; plus f32 rounding.
          double exact = 0.0, bound = 0.0, mag = 0.0;
          for (int64_t b = 0; b < s.cols / 32; ++b) {
            double amax = 0.0, wabs = 0.0;
            for (int j = 0; j < 32; ++j) {
              const int64_t c = 32 * b + j;
              const double xv = x[tk * s.cols + c], wv = w.values[r * s.cols + c];
              exact += xv * wv;
              mag += std::fabs(xv * wv);
              amax = std::max(amax, std::fabs(xv));
              wabs += std::fabs(wv);
            }
            bound += amax / 127.0 / 2.0 * wabs * 1.0001;
          }
          const double got = y[tk * s.rows + r];
          ASSERT_LE(std::fabs(got - exact), bound + 1e-5 * mag + 1e-7)
              << label(t, s) << " token " << tk << " row " << r << " got " << got << " want " << exact;
        }
      }
    }
  }
}

TEST(QuantMatmul, EveryIsaMatchesReference) {
  for (Isa isa : supported_isas()) {
    for (int threads : {1, 3}) {
      Context ref(1, Isa::kScalar), ctx(threads, isa);
      for (DType t : kQuantTypes) {
        for (const QShape& s : kQShapes) {
          const QWeight w = make_qweight(t, s.rows, s.cols, 7);
          const std::vector<float> x = random_floats(static_cast<size_t>(s.n * s.cols), 8);
          std::vector<float> want(static_cast<size_t>(s.n * s.rows)), got(want.size()), scale(want.size());
          matmul(ref, w.ref(), x.data(), s.n, want.data());
          matmul(ctx, w.ref(), x.data(), s.n, got.data());
          for (int64_t tk = 0; tk < s.n; ++tk) {
            for (int64_t r = 0; r < s.rows; ++r) {
              double mag = 0.0;
              for (int64_t c = 0; c < s.cols; ++c) mag += std::fabs(double{x[tk * s.cols + c]} * w.values[r * s.cols + c]);
              scale[tk * s.rows + r] = static_cast<float>(mag);
            }
          }
          testing::expect_close(got, want, scale, 2e-5, label(t, s) + " " + testing::isa_label(isa, threads));
        }
      }
    }
  }
}

TEST(QuantMatmul, BatchInvariantBitwise) {
  for (Isa isa : supported_isas()) {
    Context one(1, isa), three(3, isa);
    for (DType t : kQuantTypes) {
      const int64_t n = 9, rows = 11, cols = 512;
      const QWeight w = make_qweight(t, rows, cols, 9);
      const std::vector<float> x = random_floats(static_cast<size_t>(n * cols), 10, -3.0f, 3.0f);
      std::vector<float> batch(static_cast<size_t>(n * rows)), batch3(batch.size()), single(batch.size());
      matmul(one, w.ref(), x.data(), n, batch.data());
      matmul(three, w.ref(), x.data(), n, batch3.data());
      for (int64_t tk = 0; tk < n; ++tk) matmul(one, w.ref(), x.data() + tk * cols, 1, single.data() + tk * rows);
      const std::string what = std::string(dtype_name(t)) + " " + std::string(isa_name(isa));
      ASSERT_EQ(0, std::memcmp(batch.data(), single.data(), batch.size() * 4)) << what << ": n=9 vs 9 × n=1";
      ASSERT_EQ(0, std::memcmp(batch.data(), batch3.data(), batch.size() * 4)) << what << ": 1 vs 3 threads";
      // matmul_rows: the same outputs for the rows it lists, in any grouping.
      const int32_t sel[] = {10, 0, 3, 3, 7};
      std::vector<float> rb(static_cast<size_t>(n * 5)), r1(rb.size());
      matmul_rows(three, w.ref(), sel, 5, x.data(), n, rb.data());
      for (int64_t tk = 0; tk < n; ++tk) {
        matmul_rows(one, w.ref(), sel, 5, x.data() + tk * cols, 1, r1.data() + tk * 5);
        for (int i = 0; i < 5; ++i) {
          ASSERT_EQ(rb[tk * 5 + i], batch[tk * rows + sel[i]]) << what << " matmul_rows token " << tk;
        }
      }
      ASSERT_EQ(0, std::memcmp(rb.data(), r1.data(), rb.size() * 4)) << what << ": matmul_rows n=9 vs 9 × n=1";
    }
  }
}

TEST(QuantMatmul, ActivationQuantizerIdenticalOnEveryIsa) {
  // The AVX2 quantizer must give the reference's bytes; seen through the outputs: a weight
  // of a single nonzero column per 32-block makes each output exactly s·d·q_x.
  const int64_t cols = 256;
  std::vector<float> x = random_floats(cols, 3, -5.0f, 5.0f);
  x[5] = 0.0f;
  std::vector<uint8_t> w(dtype_row_bytes(DType::kQ8_0, cols) * 32, 0);
  for (int r = 0; r < 32; ++r) {  // row r picks element r of every block, with d = 1
    for (int64_t b = 0; b < cols / 32; ++b) {
      uint8_t* blk = w.data() + static_cast<size_t>(r) * dtype_row_bytes(DType::kQ8_0, cols) + 34 * b;
      const uint16_t one = f32_to_f16(b == 0 ? 1.0f : 0.0f);
      std::memcpy(blk, &one, 2);
      blk[2 + r] = 1;
    }
  }
  const MatRef m{w.data(), DType::kQ8_0, 32, cols};
  std::vector<float> want(32), got(32);
  Context ref(1, Isa::kScalar);
  matmul(ref, m, x.data(), 1, want.data());
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  for (int j = 0; j < 32; ++j) {
    EXPECT_EQ(want[j], (amax / 127.0f) * std::nearbyint(x[j] * (127.0f / amax))) << j;
  }
  for (Isa isa : supported_isas()) {
    Context ctx(1, isa);
    matmul(ctx, m, x.data(), 1, got.data());
    EXPECT_EQ(0, std::memcmp(got.data(), want.data(), 32 * 4)) << isa_name(isa);
  }
}

TEST(QuantizeQ8_0, RoundTripWithinHalfStep) {
  const int64_t cols = 96;
  std::vector<float> x = random_floats(cols, 4, -2.0f, 2.0f);
  x[40] = 0.0f;
  for (int j = 64; j < 96; ++j) x[j] = 0.0f;  // an all-zero block: d = 0, q = 0
  std::vector<uint8_t> blocks(dtype_row_bytes(DType::kQ8_0, cols));
  quantize_row_q8_0(x.data(), cols, blocks.data());
  std::vector<float> back(cols);
  dequantize_row(DType::kQ8_0, blocks.data(), cols, back.data());
  for (int64_t b = 0; b < 3; ++b) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[32 * b + j]));
    const float d = f16_to_f32(f32_to_f16(amax / 127.0f));
    for (int j = 0; j < 32; ++j) {
      // f16 rounding of d adds up to 2^-11 relative on top of the half step.
      EXPECT_LE(std::fabs(back[32 * b + j] - x[32 * b + j]), d * 0.5f + amax * 1e-3f) << 32 * b + j;
    }
  }
  EXPECT_EQ(back[70], 0.0f);
  // Hand-checked block: d = 0.5 (f16 0x3800), q = 3 -> 1.5
  uint8_t blk[34] = {0x00, 0x38, 3};
  float out[32];
  dequantize_row(DType::kQ8_0, blk, 32, out);
  EXPECT_EQ(out[0], 1.5f);
  EXPECT_EQ(out[1], 0.0f);
}

TEST(QuantMatmul, KnownBlocksDequantize) {
  // Q4_0: d = 1 (0x3C00), qs[0] = 0x2F -> element 0 = 15 - 8 = 7, element 16 = 2 - 8 = -6.
  uint8_t q40[18] = {0x00, 0x3C, 0x2F};
  float o[256];
  dequantize_row(DType::kQ4_0, q40, 32, o);
  EXPECT_EQ(o[0], 7.0f);
  EXPECT_EQ(o[16], -6.0f);
  EXPECT_EQ(o[1], -8.0f);
  // Q6_K: d = 1, scales[0] = 2, ql[0] = 0x01, qh[0] = 0x01 -> e = 1 | 1<<4 = 17 -> 2 * (17-32) = -30.
  uint8_t q6[210] = {};
  q6[0] = 0x01;
  q6[128] = 0x01;
  q6[192] = 2;
  q6[208] = 0x00;
  q6[209] = 0x3C;
  dequantize_row(DType::kQ6_K, q6, 256, o);
  EXPECT_EQ(o[0], -30.0f);
  EXPECT_EQ(o[1], 2.0f * -32.0f);
  // Q4_K: d = 1, dmin = 1, scale(0) = 3, min(0) = 2: nibble 5 -> 3*5 - 2 = 13.
  uint8_t q4k[144] = {};
  q4k[1] = 0x3C;
  q4k[3] = 0x3C;
  q4k[4] = 3;      // scales[0]: sc of sub-block 0
  q4k[8] = 2;      // scales[4]: min of sub-block 0
  q4k[16] = 0x05;  // qs[0] low nibble
  dequantize_row(DType::kQ4_K, q4k, 256, o);
  EXPECT_EQ(o[0], 13.0f);
  EXPECT_EQ(o[1], -2.0f);
  EXPECT_EQ(o[32], 0.0f);  // sub-block 1: scale 0, min 0
}

}  // namespace
}  // namespace qg::kernels
