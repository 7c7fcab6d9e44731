// Self-consistency of the forward pass on small models written by the test (no
// oracle needed, so these run as unit tests under the sanitizers too):
//   - prefill then decode (split anywhere, 1 or k tokens at a time) == one-shot prefill
//   - a prompt longer than one internal chunk (512) == the same prompt fed in pieces
//   - Logits::kLast == the last row of Logits::kAll
//   - vocab-row subset == the same rows of the full logits
//   - truncating the cache and re-running reproduces the logits
//   - greedy generation == argmax of one-shot all-position logits along its own output
// Agreement is to a relative L2 error of 1e-5 per position: different chunkings may
// legitimately use different kernel blockings and summation orders.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "model/qwen3.h"
#include "testutil/checkpoint_writer.h"

namespace qg::model {
namespace {

using testutil::TinyShape;

double rel_l2(const float* a, const float* b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

struct Case {
  const char* name;
  TinyShape shape;
};

TinyShape shape(int64_t hidden, int64_t heads, int64_t kv, int64_t hd, const char* dtype, bool tie) {
  TinyShape s;
  s.hidden = hidden;
  s.heads = heads;
  s.kv_heads = kv;
  s.head_dim = hd;
  s.dtype = dtype;
  s.tie = tie;
  s.intermediate = 2 * hidden + 8;
  return s;
}

class ForwardConsistency : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    dir_ = testutil::temp_dir(std::string("fc_") + GetParam().name);
    testutil::write_checkpoint(dir_, GetParam().shape);
    model_ = Qwen3Model::load(dir_);
    V_ = model_->config().vocab_size;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::vector<int32_t> prompt(int n, uint32_t seed = 3) const {
    std::mt19937 rng(seed);
    std::vector<int32_t> ids(static_cast<size_t>(n));
    for (auto& t : ids) t = static_cast<int32_t>(rng() % V_);
    return ids;
  }
  // One-shot all-position logits [n, V].
  std::vector<float> all_logits(const std::vector<int32_t>& ids) {
    KvCache cache = model_->make_cache(static_cast<int64_t>(ids.size()));
    std::vector<float> out(ids.size() * V_);
    model_->forward(ctx_, ids, cache, Logits::kAll, out);
    return out;
  }
  void expect_rows_close(const std::vector<float>& got, const std::vector<float>& want, int64_t rows,
                         const std::string& what) {
    for (int64_t r = 0; r < rows; ++r) {
      ASSERT_LE(rel_l2(got.data() + r * V_, want.data() + r * V_, V_), 1e-5) << what << ", position " << r;
    }
  }

  kernels::Context ctx_{2};
  std::filesystem::path dir_;
  std::unique_ptr<Qwen3Model> model_;
  int64_t V_ = 0;
};

TEST_P(ForwardConsistency, PrefillThenDecodeEqualsOneShot) {
  const auto ids = prompt(40);
  const auto want = all_logits(ids);
  for (int split : {1, 7, 20, 39}) {
    for (int step : {1, 3, 8}) {
      KvCache cache = model_->make_cache(40);
      std::vector<float> got(ids.size() * V_);
      const std::span<const int32_t> all(ids);
      model_->forward(ctx_, all.first(split), cache, Logits::kAll, std::span<float>(got).first(split * V_));
      for (int p = split; p < 40; p += step) {
        const int k = std::min(step, 40 - p);
        model_->forward(ctx_, all.subspan(p, k), cache, Logits::kAll, std::span<float>(got).subspan(p * V_, k * V_));
      }
      EXPECT_EQ(cache.n_past(), 40);
      expect_rows_close(got, want, 40, "split " + std::to_string(split) + " step " + std::to_string(step));
    }
  }
}

TEST_P(ForwardConsistency, LongPromptAcrossChunksEqualsPieces) {
  // 600 tokens: one call crosses the 512-token internal chunk; compare with 3 calls.
  const auto ids = prompt(600, 11);
  const auto want = all_logits(ids);
  KvCache cache = model_->make_cache(600);
  std::vector<float> got(ids.size() * V_);
  const std::span<const int32_t> all(ids);
  for (auto [p, k] : {std::pair{0, 250}, std::pair{250, 300}, std::pair{550, 50}}) {
    model_->forward(ctx_, all.subspan(p, k), cache, Logits::kAll, std::span<float>(got).subspan(p * V_, k * V_));
  }
  expect_rows_close(got, want, 600, "600 tokens in pieces");
}

TEST_P(ForwardConsistency, LastAndVocabRowsMatchFullLogits) {
  const auto ids = prompt(13);
  const auto want = all_logits(ids);
  KvCache cache = model_->make_cache(13);
  std::vector<float> last(V_);
  model_->forward(ctx_, ids, cache, Logits::kLast, last);
  EXPECT_LE(rel_l2(last.data(), want.data() + 12 * V_, V_), 1e-5);

  const std::vector<int32_t> rows = {static_cast<int32_t>(V_ - 1), 0, 5, 5, static_cast<int32_t>(V_ / 2)};
  cache.clear();
  std::vector<float> sub(13 * rows.size());
  model_->forward(ctx_, ids, cache, Logits::kAll, sub, rows);
  for (int64_t t = 0; t < 13; ++t) {
    for (size_t j = 0; j < rows.size(); ++j) {
      const float w = want[t * V_ + rows[j]];
      EXPECT_NEAR(sub[t * rows.size() + j], w, 1e-4 * (1 + std::abs(w))) << "position " << t << " row " << rows[j];
    }
  }
  cache.clear();
  std::vector<float> sub_last(rows.size());
  model_->forward(ctx_, ids, cache, Logits::kLast, sub_last, rows);
  for (size_t j = 0; j < rows.size(); ++j) EXPECT_NEAR(sub_last[j], sub[12 * rows.size() + j], 1e-4);
}

TEST_P(ForwardConsistency, TruncateAndRerunReproduces) {
  const auto ids = prompt(20);
  KvCache cache = model_->make_cache(20);
  std::vector<float> a(V_), b(V_);
  model_->forward(ctx_, ids, cache, Logits::kLast, a);
  cache.truncate(12);
  model_->forward(ctx_, std::span<const int32_t>(ids).subspan(12), cache, Logits::kLast, b);
  EXPECT_LE(rel_l2(b.data(), a.data(), V_), 1e-5);
}

TEST_P(ForwardConsistency, GreedyIsArgmaxOfOneShotLogits) {
  auto ids = prompt(9);
  KvCache cache = model_->make_cache(9 + 12);
  const auto gen = model_->generate_greedy(ctx_, ids, cache, 12, {});
  ASSERT_EQ(gen.size(), 12u);
  std::vector<int32_t> seq = ids;
  seq.insert(seq.end(), gen.begin(), gen.end());
  const auto logits = all_logits(seq);
  for (size_t i = 0; i < gen.size(); ++i) {
    const float* row = logits.data() + (ids.size() - 1 + i) * V_;
    const int64_t best = std::max_element(row, row + V_) - row;
    // Equal, or a near-tie that a different summation order may flip.
    if (best != gen[i]) EXPECT_NEAR(row[best], row[gen[i]], 1e-4) << "step " << i;
  }
  // Stops at (and includes) a stop id.
  cache.clear();
  const std::vector<int32_t> stop = {gen[3]};
  const auto stopped = model_->generate_greedy(ctx_, ids, cache, 12, stop);
  EXPECT_EQ(stopped.back(), gen[3]);
  EXPECT_LE(stopped.size(), 4u);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ForwardConsistency,
    ::testing::Values(Case{"gqa_f32_tied", shape(32, 4, 2, 8, "F32", true)},
                      Case{"heads3_kv1_bf16_untied", shape(48, 3, 1, 24, "BF16", false)},
                      Case{"mha_f16", shape(40, 2, 2, 20, "F16", true)}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace qg::model
