// Golden tests of the Qwen3Guard-Stream heads against the numpy float64 reference
// (tools/reference/qwen3_ref.py, Qwen3Reference.stream_heads_from_hidden) on the
// Stream fixtures of make_fixtures.py: the reference's own final hidden states go
// through model::stream_heads, and every position's 23 head logits must match the
// reference's with a relative L2 error <= 1e-4, on the scalar and AVX2 kernels.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/qwen3.h"
#include "model/stream_heads.h"
#include "testutil/npy.h"

namespace qg::model {
namespace {

namespace fs = std::filesystem;

fs::path fixtures() {
  const char* p = std::getenv("QG_MODEL_FIXTURES");
  return p ? fs::path(p) : fs::path();
}

struct StreamParam {
  std::string model;
  kernels::Isa isa;
};
void PrintTo(const StreamParam& p, std::ostream* os) { *os << p.model << "/" << kernels::isa_name(p.isa); }

// Worst per-position relative L2 error of got [n, w] against want [n, w].
double worst_rel_l2(const float* got, const float* want, int64_t n, int64_t w) {
  double worst = 0;
  for (int64_t t = 0; t < n; ++t) {
    double num = 0, den = 0;
    for (int64_t j = 0; j < w; ++j) {
      const double d = double(got[t * w + j]) - want[t * w + j];
      num += d * d;
      den += double(want[t * w + j]) * want[t * w + j];
    }
    worst = std::max(worst, std::sqrt(num / den));
  }
  return worst;
}

class StreamGolden : public ::testing::TestWithParam<StreamParam> {};

TEST_P(StreamGolden, HeadLogitsOfReferenceHiddenMatchReference) {
  if (fixtures().empty()) GTEST_SKIP() << "QG_MODEL_FIXTURES not set (run through ctest)";
  if (GetParam().isa == kernels::Isa::kAvx2 && kernels::best_isa() != kernels::Isa::kAvx2) GTEST_SKIP();
  const fs::path dir = fixtures() / GetParam().model;
  auto model = Qwen3Model::load(dir / "model");
  ASSERT_NE(model->stream_heads(), nullptr);
  kernels::Context ctx(2, GetParam().isa);
  int checked = 0;
  for (const auto& e : fs::directory_iterator(dir / "goldens")) {
    if (e.path().extension() != ".json") continue;
    std::ifstream f(e.path());
    const auto c = nlohmann::json::parse(f);
    const auto hidden = testutil::read_npy_f32((dir / "goldens" / c["hidden"].get<std::string>()).string());
    const auto want = testutil::read_npy_f32((dir / "goldens" / c["heads"].get<std::string>()).string());
    const int64_t n = hidden.shape[0];
    ASSERT_EQ(hidden.shape[1], model->config().hidden_size);
    ASSERT_EQ(want.shape, (std::vector<int64_t>{n, 23}));
    StreamHeadLogits out;
    StreamHeadScratch scratch;
    stream_heads(ctx, *model->stream_heads(), model->config(), hidden.data.data(), n, out, scratch);
    const double worst = worst_rel_l2(out.all.data(), want.data.data(), n, 23);
    EXPECT_LE(worst, 1e-4) << e.path();
    RecordProperty("max_rel_l2_" + std::to_string(n), std::to_string(worst));
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

std::vector<StreamParam> stream_params() {
  std::vector<StreamParam> out;
  for (const char* m : {"stream_bf16", "stream_tiny_preset"}) {
    for (auto isa : {kernels::Isa::kScalar, kernels::Isa::kAvx2}) out.push_back({m, isa});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, StreamGolden, ::testing::ValuesIn(stream_params()), [](const auto& info) {
  return info.param.model + "_" + std::string(kernels::isa_name(info.param.isa));
});

}  // namespace
}  // namespace qg::model
