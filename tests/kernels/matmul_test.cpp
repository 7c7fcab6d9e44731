// matmul, matmul_multi, matmul_rows and get_row: the scalar reference against a
// double-precision product, then every ISA × thread count × dtype against the reference
// over awkward shapes (n = 1 (GEMV) and 2.. (3 × 4 GEMM tiles, full and partial token
// groups), columns around the 8-wide loops, rows not multiples of the 3-row tile or the
// 8-row GEMV step), then batch invariance bitwise (one call over n tokens ≡ n calls of one
// token; matmul_multi ≡ separate calls; matmul_rows ≡ the same rows of matmul).
#include <gtest/gtest.h>

#include <cstring>

#include "base/error.h"
#include "kernels/kernels.h"
#include "kernels_test_util.h"

namespace qg::kernels {
namespace {

using testing::expect_close;
using testing::make_weight;
using testing::random_floats;
using testing::TestWeight;

struct Shape {
  int64_t n, rows, cols;
};

// Covers n = 1, 2, 3 (GEMV), 4..7 and 64, 300 (GEMM with full and partial 6-token
// groups); cols not multiples of 8/16 and > 256 (several K blocks); rows not
// multiples of 4/16 and > 64 (several packed panel groups per thread).
const Shape kShapes[] = {
    {1, 1, 1},      {1, 5, 7},     {1, 33, 100}, {1, 64, 515},  {2, 17, 9},     {3, 13, 31},
    {4, 16, 16},    {7, 17, 300},  {7, 100, 64}, {64, 33, 257}, {64, 200, 300}, {300, 23, 40},
    {300, 70, 520}, {13, 1, 1000}, {7, 5, 3},    {64, 3, 1},    {6, 48, 17},
};

// Σ_k x[t,k]·w[r,k] in double, and Σ_k |x[t,k]·w[r,k]| as the error scale.
void product_double(const TestWeight& w, const std::vector<float>& x, int64_t n,
                    std::vector<float>* y, std::vector<float>* scale) {
  y->assign(static_cast<size_t>(n * w.rows), 0.0f);
  scale->assign(y->size(), 0.0f);
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t r = 0; r < w.rows; ++r) {
      double acc = 0.0, mag = 0.0;
      for (int64_t c = 0; c < w.cols; ++c) {
        const double p = static_cast<double>(x[t * w.cols + c]) * w.values[r * w.cols + c];
        acc += p;
        mag += std::fabs(p);
      }
      (*y)[t * w.rows + r] = static_cast<float>(acc);
      (*scale)[t * w.rows + r] = static_cast<float>(mag);
    }
  }
}

class MatmulTest : public ::testing::TestWithParam<DType> {};

TEST_P(MatmulTest, ReferenceEqualsDoubleProduct) {
  Context ref(1, Isa::kScalar);
  for (const Shape& s : kShapes) {
    TestWeight w = make_weight(GetParam(), s.rows, s.cols, 11);
    std::vector<float> x = random_floats(static_cast<size_t>(s.n * s.cols), 12);
    std::vector<float> want, scale, got(static_cast<size_t>(s.n * s.rows));
    product_double(w, x, s.n, &want, &scale);
    matmul(ref, w.ref(), x.data(), s.n, got.data());
    expect_close(got, want, scale, 1e-5, testing::cat_shape(s.n, s.rows, s.cols));
  }
}

TEST_P(MatmulTest, EveryIsaAndThreadCountEqualsReference) {
  Context ref(1, Isa::kScalar);
  for (const Shape& s : kShapes) {
    TestWeight w = make_weight(GetParam(), s.rows, s.cols, 21);
    std::vector<float> x = random_floats(static_cast<size_t>(s.n * s.cols), 22);
    std::vector<float> want(static_cast<size_t>(s.n * s.rows)), unused, scale;
    matmul(ref, w.ref(), x.data(), s.n, want.data());
    product_double(w, x, s.n, &unused, &scale);
    for (Isa isa : testing::supported_isas()) {
      for (int threads : {1, 2, 3}) {
        Context ctx(threads, isa);
        std::vector<float> got(want.size(), -7.0f);
        matmul(ctx, w.ref(), x.data(), s.n, got.data());
        const std::string what =
            testing::isa_label(isa, threads) + " " + testing::cat_shape(s.n, s.rows, s.cols);
        if (isa == Isa::kScalar) {
          EXPECT_EQ(got, want) << what << ": threads must not change the reference";
        } else {
          expect_close(got, want, scale, 1e-5, what);
        }
      }
    }
  }
}

TEST_P(MatmulTest, MatmulRowsEqualsTheSameRowsOfMatmul) {
  const int64_t n = 5, rows = 37, cols = 2003;  // enough work per row to use threads
  TestWeight w = make_weight(GetParam(), rows, cols, 31);
  std::vector<float> x = random_floats(static_cast<size_t>(n * cols), 32);
  const std::vector<int32_t> pick = {36, 0,  5,  5,  17, 2,  30, 31, 1,  9,
                                     11, 12, 13, 14, 15, 16, 20, 21, 22, 23};
  Context ref(1, Isa::kScalar);
  std::vector<float> full(static_cast<size_t>(n * rows));
  matmul(ref, w.ref(), x.data(), n, full.data());
  for (Isa isa : testing::supported_isas()) {
    for (int threads : {1, 3}) {
      Context ctx(threads, isa);
      for (size_t n_rows : {size_t{1}, size_t{3}, pick.size()}) {
        std::vector<float> got(n * n_rows), want(n * n_rows), scale(n * n_rows, 0.0f);
        for (int64_t t = 0; t < n; ++t) {
          for (size_t i = 0; i < n_rows; ++i) {
            want[t * n_rows + i] = full[t * rows + pick[i]];
            for (int64_t c = 0; c < cols; ++c) {
              scale[t * n_rows + i] += std::fabs(x[t * cols + c] * w.values[pick[i] * cols + c]);
            }
          }
        }
        matmul_rows(ctx, w.ref(), pick.data(), static_cast<int64_t>(n_rows), x.data(), n,
                    got.data());
        expect_close(got, want, scale, 1e-5, testing::isa_label(isa, threads));
      }
    }
  }
}

// Batch invariance: each token's outputs from one call over n tokens are bitwise those of
// n single-token calls (decode GEMV vs prefill GEMM, edge tiles, any thread count).
TEST_P(MatmulTest, BatchInvariantBitwise) {
  const int64_t n_max = 100;
  const std::pair<int64_t, int64_t> shapes[] = {{1, 1},  {5, 7},    {17, 9},  {4, 8},
                                                {64, 31}, {13, 300}, {2, 1000}};
  for (auto [rows, cols] : shapes) {
    TestWeight w = make_weight(GetParam(), rows, cols, 51);
    std::vector<float> x = random_floats(static_cast<size_t>(n_max * cols), 52);
    for (Isa isa : testing::supported_isas()) {
      Context single(1, isa);
      std::vector<float> alone(static_cast<size_t>(n_max * rows));
      for (int64_t t = 0; t < n_max; ++t) {
        matmul(single, w.ref(), x.data() + t * cols, 1, alone.data() + t * rows);
      }
      for (int threads : {1, 2, 3}) {
        Context ctx(threads, isa);
        for (int64_t n : {1, 2, 3, 4, 5, 7, 16, 33, 100}) {
          std::vector<float> got(static_cast<size_t>(n * rows), -7.0f);
          matmul(ctx, w.ref(), x.data(), n, got.data());
          ASSERT_EQ(0, std::memcmp(got.data(), alone.data(), got.size() * sizeof(float)))
              << testing::isa_label(isa, threads) << " " << testing::cat_shape(n, rows, cols)
              << ": a token's outputs depend on the batch";
        }
      }
    }
  }
}

// matmul_multi ≡ separate matmul calls, bitwise, and matmul_rows ≡ the same rows of matmul.
TEST_P(MatmulTest, MultiAndRowsEqualMatmulBitwise) {
  const int64_t cols = 203;
  const int64_t row_counts[] = {16, 8, 8, 1, 37};  // q/k/v-like plus odd ones
  std::vector<TestWeight> ws;
  for (int64_t i = 0; i < 5; ++i) ws.push_back(make_weight(GetParam(), row_counts[i], cols, 60 + i));
  std::vector<MatRef> refs;
  for (const TestWeight& w : ws) refs.push_back(w.ref());
  std::vector<float> x = random_floats(static_cast<size_t>(9 * cols), 66);
  const std::vector<int32_t> pick = {36, 0, 5, 5, 17, 2, 30};
  for (Isa isa : testing::supported_isas()) {
    for (int threads : {1, 3}) {
      Context ctx(threads, isa);
      for (int64_t n : {1, 2, 4, 9}) {
        std::vector<std::vector<float>> fused(5), alone(5);
        std::vector<float*> ys;
        for (int64_t i = 0; i < 5; ++i) {
          fused[i].assign(static_cast<size_t>(n * row_counts[i]), -7.0f);
          alone[i].assign(fused[i].size(), -8.0f);
          ys.push_back(fused[i].data());
          matmul(ctx, refs[i], x.data(), n, alone[i].data());
        }
        matmul_multi(ctx, refs.data(), 5, x.data(), n, ys.data());
        for (int64_t i = 0; i < 5; ++i) {
          EXPECT_EQ(0, std::memcmp(fused[i].data(), alone[i].data(), fused[i].size() * 4))
              << testing::isa_label(isa, threads) << " n=" << n << " matrix " << i;
        }
        std::vector<float> rows_y(n * pick.size());
        matmul_rows(ctx, refs[4], pick.data(), static_cast<int64_t>(pick.size()), x.data(), n,
                    rows_y.data());
        for (int64_t t = 0; t < n; ++t) {
          for (size_t j = 0; j < pick.size(); ++j) {
            const float want = alone[4][t * 37 + pick[j]];
            ASSERT_EQ(0, std::memcmp(&rows_y[t * pick.size() + j], &want, 4))
                << testing::isa_label(isa, threads) << " n=" << n << " row " << pick[j];
          }
        }
      }
    }
  }
}

TEST(MatmulMulti, RejectsMismatchedColumns) {
  TestWeight a = make_weight(DType::kF32, 4, 8, 1), b = make_weight(DType::kF32, 4, 9, 2);
  const MatRef ws[2] = {a.ref(), b.ref()};
  std::vector<float> x(9, 1.0f), y0(4), y1(4);
  float* ys[2] = {y0.data(), y1.data()};
  Context ctx(1);
  EXPECT_THROW(matmul_multi(ctx, ws, 2, x.data(), 1, ys), Error);
  EXPECT_THROW(matmul_multi(ctx, ws, 0, x.data(), 1, ys), Error);
}

TEST_P(MatmulTest, GetRowWidensExactly) {
  TestWeight w = make_weight(GetParam(), 9, 77, 41);
  std::vector<float> row(77);
  for (int64_t r : {0, 4, 8}) {
    get_row(w.ref(), r, row.data());
    for (int64_t c = 0; c < 77; ++c) ASSERT_EQ(row[c], w.values[r * 77 + c]) << r << "," << c;
  }
  EXPECT_THROW(get_row(w.ref(), 9, row.data()), Error);
  EXPECT_THROW(get_row(w.ref(), -1, row.data()), Error);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, MatmulTest,
                         ::testing::Values(DType::kF32, DType::kF16, DType::kBF16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(MatmulRows, RejectsRowOutOfRange) {
  TestWeight w = make_weight(DType::kBF16, 4, 8, 1);
  std::vector<float> x(8, 1.0f), y(1);
  const int32_t bad = 4;
  Context ctx(1);
  EXPECT_THROW(matmul_rows(ctx, w.ref(), &bad, 1, x.data(), 1, y.data()), Error);
}

}  // namespace
}  // namespace qg::kernels
