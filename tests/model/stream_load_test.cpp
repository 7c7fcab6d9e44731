// Loading Qwen3ForGuardModel (Qwen3Guard-Stream) checkpoints written by the test: the
// heads bind with the shapes config.json implies; a missing, misshapen or unknown
// tensor is refused naming it; and the heads computed by model::stream_heads equal a
// plain double-precision loop over the same weights (the independent numpy check is
// in stream_golden_test.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "base/error.h"
#include "model/qwen3.h"
#include "model/stream_heads.h"
#include "testutil/checkpoint_writer.h"
#include "testutil/expect_error.h"

namespace qg::model {
namespace {

using testutil::expect_error;
using testutil::TensorSpec;
using testutil::TinyShape;

constexpr int64_t kG = 12;

nlohmann::json label_map(const std::vector<std::string>& v) {
  nlohmann::json m = nlohmann::json::object();
  for (size_t i = 0; i < v.size(); ++i) m[std::to_string(i)] = v[i];
  return m;
}

void add_stream(std::vector<TensorSpec>& ts, nlohmann::json& cfg, const TinyShape& s) {
  const std::vector<std::string> risk = {"Safe", "Unsafe", "Controversial"};
  const std::vector<std::string> cats = {"Violent", "Sexual Content or Sexual Acts", "Suicide & Self-Harm",
                                         "Politically Sensitive Topics", "PII", "Copyright Violation",
                                         "Non-violent Illegal Acts", "Unethical Acts"};
  std::vector<std::string> qcats = cats;
  qcats.push_back("Jailbreak");
  cfg["architectures"] = {"Qwen3ForGuardModel"};
  cfg["guard_inner_size"] = kG;
  cfg["num_risk_level"] = 3;
  cfg["num_category"] = 8;
  cfg["num_query_risk_level"] = 3;
  cfg["num_query_category"] = 9;
  cfg["response_risk_level_map"] = label_map(risk);
  cfg["response_category_map"] = label_map(cats);
  cfg["query_risk_level_map"] = label_map(risk);
  cfg["query_category_map"] = label_map(qcats);
  std::mt19937 rng(s.seed + 100);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  auto mat = [&](const std::string& name, int64_t r, int64_t c) {
    std::vector<float> v(static_cast<size_t>(r * c));
    for (auto& x : v) x = nd(rng) / std::sqrt(static_cast<float>(c));
    ts.push_back(TensorSpec{name, s.dtype, {r, c}, testutil::encode(v, s.dtype)});
  };
  for (const std::string p : {"", "query_"}) {
    mat(p + "risk_level_category_pre.weight", kG, s.hidden);
    std::vector<float> ln(kG);
    for (auto& x : ln) x = 1.0f + 0.1f * nd(rng);
    ts.push_back(TensorSpec{p + "risk_level_category_layernorm.weight", s.dtype, {kG}, testutil::encode(ln, s.dtype)});
    mat(p + "risk_level_head.weight", 3, kG);
    mat(p + "category_head.weight", p.empty() ? 8 : 9, kG);
  }
}

class StreamLoadTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testutil::temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name()); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  template <typename Edit>
  void write(Edit edit) {
    TinyShape s;
    auto ts = testutil::qwen3_tensors(s);
    auto cfg = testutil::config_json(s);
    add_stream(ts, cfg, s);
    edit(ts, cfg);
    testutil::write_checkpoint(dir_, s, ts, cfg);
  }
  static void erase(std::vector<TensorSpec>& ts, const std::string& name) {
    ts.erase(std::find_if(ts.begin(), ts.end(), [&](const auto& t) { return t.name == name; }));
  }
  std::filesystem::path dir_;
};

TEST_F(StreamLoadTest, BindsBothHeadPairs) {
  write([](auto&, auto&) {});
  auto m = Qwen3Model::load(dir_);
  ASSERT_TRUE(m->config().is_stream());
  const StreamHeadWeights* h = m->stream_heads();
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->n_risk(), 3);
  EXPECT_EQ(h->n_category(), 8);
  EXPECT_EQ(h->n_query_risk(), 3);
  EXPECT_EQ(h->n_query_category(), 9);
  EXPECT_EQ(h->response.pre.rows, kG);
  EXPECT_EQ(m->config().stream->query_categories.at(8), "Jailbreak");
  EXPECT_EQ(m->config().stream->response_risk_levels.at(2), "Controversial");
}

TEST_F(StreamLoadTest, GenCheckpointHasNoHeads) {
  testutil::write_checkpoint(dir_, TinyShape{});
  EXPECT_EQ(Qwen3Model::load(dir_)->stream_heads(), nullptr);
}

TEST_F(StreamLoadTest, RefusesMissingHeadTensor) {
  write([](auto& ts, auto&) { erase(ts, "query_category_head.weight"); });
  expect_error([&] { Qwen3Model::load(dir_); }, {"query_category_head.weight", "missing", "[9, 12]"});
}

TEST_F(StreamLoadTest, RefusesHeadShapeThatDisagreesWithLabelMap) {
  // A 4-entry risk map with a 3-row head: the config and the tensor disagree.
  write([](auto&, auto& cfg) {
    cfg["num_risk_level"] = 4;
    cfg["response_risk_level_map"]["3"] = "Other";
  });
  expect_error([&] { Qwen3Model::load(dir_); }, {"risk_level_head.weight", "[3, 12]", "[4, 12]", "num_risk_level"});
}

TEST_F(StreamLoadTest, RefusesUnknownTensor) {
  write([](auto& ts, auto&) {
    ts.push_back(TensorSpec{"risk_level_category_pre.bias", "F32", {kG}, testutil::encode(std::vector<float>(kG), "F32")});
  });
  expect_error([&] { Qwen3Model::load(dir_); }, {"risk_level_category_pre.bias", "refusing to ignore"});
}

TEST_F(StreamLoadTest, RefusesMissingLabelMap) {
  write([](auto&, auto& cfg) { cfg.erase("query_category_map"); });
  expect_error([&] { Qwen3Model::load(dir_); }, {"config.json", "/query_category_map", "missing", "Qwen3ForGuardModel"});
}

// The heads against a double-precision loop written from the formula.
TEST_F(StreamLoadTest, HeadsMatchDoubleLoop) {
  write([](auto&, auto&) {});
  auto m = Qwen3Model::load(dir_);
  const auto& c = m->config();
  const StreamHeadWeights& w = *m->stream_heads();
  const int64_t n = 5, H = c.hidden_size;
  std::vector<float> hidden(static_cast<size_t>(n * H));
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (auto& x : hidden) x = nd(rng);
  kernels::Context ctx(1, kernels::Isa::kScalar);
  StreamHeadLogits out;
  StreamHeadScratch scratch;
  stream_heads(ctx, w, c, hidden.data(), n, out, scratch);
  ASSERT_EQ(out.width(), 23);
  auto row = [](const kernels::MatRef& mr, int64_t r, std::vector<float>& buf) {
    buf.resize(static_cast<size_t>(mr.cols));
    kernels::get_row(mr, r, buf.data());
  };
  std::vector<float> buf;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<double> want;
    for (const StreamHeadPair* p : {&w.response, &w.query}) {
      std::vector<double> z(static_cast<size_t>(kG));
      for (int64_t g = 0; g < kG; ++g) {
        row(p->pre, g, buf);
        double s = 0;
        for (int64_t k = 0; k < H; ++k) s += static_cast<double>(buf[k]) * hidden[i * H + k];
        z[g] = s;
      }
      double ms = 0;
      for (double v : z) ms += v * v;
      const double r = 1.0 / std::sqrt(ms / kG + c.rms_norm_eps);
      for (int64_t g = 0; g < kG; ++g) z[g] *= r * p->norm[g];
      for (const kernels::MatRef* head : {&p->risk, &p->category}) {
        for (int64_t o = 0; o < head->rows; ++o) {
          row(*head, o, buf);
          double s = 0;
          for (int64_t g = 0; g < kG; ++g) s += buf[g] * z[g];
          want.push_back(s);
        }
      }
    }
    ASSERT_EQ(want.size(), 23u);
    for (size_t j = 0; j < want.size(); ++j) EXPECT_NEAR(out.all[i * 23 + j], want[j], 1e-4) << i << "," << j;
  }
  // The accessors slice the row as documented.
  EXPECT_EQ(out.query_category(2).size(), 9u);
  EXPECT_EQ(out.query_category(2).data(), out.all.data() + 2 * 23 + 14);
}

}  // namespace
}  // namespace qg::model
