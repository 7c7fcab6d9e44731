// Golden tests: the C++ forward pass against the independent numpy float64 reference
// (tools/reference/qwen3_ref.py) on the tiny checkpoints made by make_fixtures.py.
// For every fixture model, on the scalar kernels and on the AVX2 kernels (when the
// CPU has them), with 2 threads:
//   - all-position logits of prompts of 1, 7, 64, 300 (and 520) tokens: relative L2
//     error of every position's logit vector <= 1e-4
//   - 32 greedy tokens equal the reference's; a difference is only accepted at a
//     step where the reference's top-2 margin is below 1e-3 (a near-tie that f32
//     rounding can legitimately flip), and the comparison stops there.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/qwen3.h"
#include "testutil/npy.h"

namespace qg::model {
namespace {

namespace fs = std::filesystem;

constexpr double kMaxRelL2 = 1e-4;
constexpr double kTieMargin = 1e-3;

fs::path fixtures() {
  const char* p = std::getenv("QG_MODEL_FIXTURES");
  return p ? fs::path(p) : fs::path();
}

struct Param {
  std::string model;
  kernels::Isa isa;
};

// Readable parameter names in ctest output.
void PrintTo(const Param& p, std::ostream* os) { *os << p.model << "/" << kernels::isa_name(p.isa); }

class Golden : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    if (fixtures().empty()) GTEST_SKIP() << "QG_MODEL_FIXTURES not set (run through ctest)";
    if (GetParam().isa == kernels::Isa::kAvx2 && kernels::best_isa() != kernels::Isa::kAvx2) {
      GTEST_SKIP() << "CPU without AVX2";
    }
    dir_ = fixtures() / GetParam().model;
    ASSERT_TRUE(fs::exists(dir_ / "model" / "config.json")) << dir_ << ": fixture missing";
    model_ = Qwen3Model::load(dir_ / "model");
    ctx_ = std::make_unique<kernels::Context>(2, GetParam().isa);
    ASSERT_EQ(ctx_->isa(), GetParam().isa);
  }

  std::vector<nlohmann::json> cases() const {
    std::vector<nlohmann::json> out;
    for (const auto& e : fs::directory_iterator(dir_ / "goldens")) {
      if (e.path().extension() != ".json") continue;
      std::ifstream f(e.path());
      out.push_back(nlohmann::json::parse(f));
    }
    EXPECT_FALSE(out.empty());
    return out;
  }

  fs::path dir_;
  std::unique_ptr<Qwen3Model> model_;
  std::unique_ptr<kernels::Context> ctx_;
};

TEST_P(Golden, AllPositionLogitsMatchReference) {
  const int64_t V = model_->config().vocab_size;
  for (const auto& c : cases()) {
    const auto prompt = c["prompt"].get<std::vector<int32_t>>();
    const auto n = static_cast<int64_t>(prompt.size());
    const auto want = testutil::read_npy_f32((dir_ / "goldens" / c["logits"].get<std::string>()).string());
    ASSERT_EQ(want.shape, (std::vector<int64_t>{n, V}));
    KvCache cache = model_->make_cache(n);
    std::vector<float> got(static_cast<size_t>(n * V));
    model_->forward(*ctx_, prompt, cache, Logits::kAll, got);
    double worst = 0;
    for (int64_t t = 0; t < n; ++t) {
      double num = 0, den = 0;
      for (int64_t v = 0; v < V; ++v) {
        const double d = double(got[t * V + v]) - want.data[t * V + v];
        num += d * d;
        den += double(want.data[t * V + v]) * want.data[t * V + v];
      }
      worst = std::max(worst, std::sqrt(num / den));
    }
    EXPECT_LE(worst, kMaxRelL2) << n << "-token prompt";
    RecordProperty("max_rel_l2_" + std::to_string(n), std::to_string(worst));
  }
}

TEST_P(Golden, GreedyTokensMatchReference) {
  int checked = 0;
  for (const auto& c : cases()) {
    const auto want = c["greedy"].get<std::vector<int32_t>>();
    if (want.empty()) continue;
    const auto margins = c["greedy_margins"].get<std::vector<double>>();
    const auto prompt = c["prompt"].get<std::vector<int32_t>>();
    KvCache cache = model_->make_cache(static_cast<int64_t>(prompt.size() + want.size()));
    const auto got = model_->generate_greedy(*ctx_, prompt, cache, static_cast<int>(want.size()), {});
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      if (got[i] == want[i]) continue;
      EXPECT_LT(margins[i], kTieMargin) << prompt.size() << "-token prompt, step " << i << ": got " << got[i]
                                        << ", reference " << want[i] << " with margin " << margins[i];
      break;  // after a legitimate tie flip the sequences diverge
    }
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

std::vector<Param> params() {
  std::vector<Param> out;
  for (const char* m : {"tied_bf16", "untied_f32_3shards", "tied_lmhead_f16_2shards", "hd128_bf16", "tiny_preset"}) {
    for (auto isa : {kernels::Isa::kScalar, kernels::Isa::kAvx2}) out.push_back({m, isa});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Golden, ::testing::ValuesIn(params()), [](const auto& info) {
  return info.param.model + "_" + std::string(kernels::isa_name(info.param.isa));
});

}  // namespace
}  // namespace qg::model
