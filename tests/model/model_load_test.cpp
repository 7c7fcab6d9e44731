// Tests of Qwen3Model::load against checkpoints written by the test: valid tied and
// untied models load; a checkpoint that does not match its config.json, or is
// broken, is rejected with a message naming the file, the tensor and the problem.
// Also the argument checks of forward(), which must leave the cache untouched.
#include <gtest/gtest.h>

#include "base/error.h"
#include "model/qwen3.h"
#include "model/qwen3_weights.h"
#include "testutil/checkpoint_writer.h"
#include "testutil/expect_error.h"

namespace qg::model {
namespace {

using testutil::TinyShape;

using testutil::expect_error;

class ModelLoadTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testutil::temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name()); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes the tiny model with `edit` applied to its tensor list / config.
  template <typename Edit>
  void write(const TinyShape& s, Edit edit) {
    auto ts = testutil::qwen3_tensors(s);
    auto cfg = testutil::config_json(s);
    edit(ts, cfg);
    testutil::write_checkpoint(dir_, s, ts, cfg);
  }
  void write(const TinyShape& s) {
    write(s, [](auto&, auto&) {});
  }
  static std::vector<testutil::TensorSpec>::iterator find(std::vector<testutil::TensorSpec>& ts,
                                                          const std::string& name) {
    return std::find_if(ts.begin(), ts.end(), [&](const auto& t) { return t.name == name; });
  }
  std::filesystem::path dir_;
};

TEST_F(ModelLoadTest, TiedWithoutLmHeadUsesEmbedding) {
  write(TinyShape{});
  auto m = Qwen3Model::load(dir_);
  EXPECT_TRUE(m->weights().lm_head_is_embedding);
  EXPECT_EQ(m->weights().lm_head.data, m->weights().embed_tokens.data);
  EXPECT_EQ(m->weights().layers.size(), 2u);
  EXPECT_EQ(m->config().vocab_size, 97);
  EXPECT_EQ(m->stop_token_ids(), std::vector<int32_t>{96});
}

TEST_F(ModelLoadTest, TiedWithLmHeadCopyAndUntiedLoad) {
  TinyShape s;
  s.write_lm_head = true;
  write(s);
  EXPECT_FALSE(Qwen3Model::load(dir_)->weights().lm_head_is_embedding);
  s.tie = false;
  s.write_lm_head = false;
  s.dtype = "BF16";
  s.shards = 3;
  std::filesystem::remove_all(dir_);
  write(s);
  auto m = Qwen3Model::load(dir_);
  EXPECT_FALSE(m->weights().lm_head_is_embedding);
  EXPECT_EQ(m->weights().lm_head.dtype, DType::kBF16);
}

TEST_F(ModelLoadTest, MissingLmHeadWhenUntied) {
  TinyShape s;
  s.tie = false;
  write(s, [&](auto& ts, auto&) { ts.erase(find(ts, "lm_head.weight")); });
  expect_error([&] { Qwen3Model::load(dir_); },
               {"model.safetensors", "lm_head.weight", "missing", "tie_word_embeddings false"});
}

TEST_F(ModelLoadTest, MissingTensor) {
  write(TinyShape{}, [&](auto& ts, auto&) { ts.erase(find(ts, "model.layers.1.self_attn.k_norm.weight")); });
  expect_error([&] { Qwen3Model::load(dir_); },
               {"model.safetensors", "tensor model.layers.1.self_attn.k_norm.weight", "missing", "[8]"});
}

TEST_F(ModelLoadTest, WrongShapeVsConfig) {
  // The checkpoint has 2 kv heads; the config claims 4 (consistent in itself).
  write(TinyShape{}, [&](auto&, auto& cfg) { cfg["num_key_value_heads"] = 4; });
  expect_error([&] { Qwen3Model::load(dir_); },
               {"model.safetensors", "tensor model.layers.0.self_attn.k_proj.weight", "[16, 32]",
                "does not match config.json", "[32, 32]"});
}

TEST_F(ModelLoadTest, WrongDtype) {
  write(TinyShape{}, [&](auto& ts, auto&) { find(ts, "model.norm.weight")->dtype = "I32"; });
  expect_error([&] { Qwen3Model::load(dir_); }, {"model.safetensors", "tensor model.norm.weight", "dtype \"I32\""});
}

TEST_F(ModelLoadTest, ExtraLayerMeansConfigMismatch) {
  write(TinyShape{}, [&](auto&, auto& cfg) { cfg["num_hidden_layers"] = 1; });
  expect_error([&] { Qwen3Model::load(dir_); }, {"model.layers.1.", "layer 1", "num_hidden_layers 1"});
}

TEST_F(ModelLoadTest, UnknownArchitecture) {
  write(TinyShape{}, [&](auto&, auto& cfg) { cfg["architectures"] = {"MistralForCausalLM"}; });
  expect_error([&] { Qwen3Model::load(dir_); }, {"config.json", "MistralForCausalLM", "Qwen3ForCausalLM"});
}

TEST_F(ModelLoadTest, MissingShardAndTruncatedFile) {
  TinyShape s;
  s.shards = 3;
  write(s);
  std::filesystem::remove(dir_ / "model-00002-of-00003.safetensors");
  expect_error([&] { Qwen3Model::load(dir_); }, {"model.safetensors.index.json", "model-00002-of-00003.safetensors", "missing"});

  std::filesystem::remove_all(dir_);
  write(TinyShape{});
  const auto size = std::filesystem::file_size(dir_ / "model.safetensors");
  std::filesystem::resize_file(dir_ / "model.safetensors", size - 100);
  expect_error([&] { Qwen3Model::load(dir_); }, {"model.safetensors", "out of range", "truncated"});
}

TEST_F(ModelLoadTest, ForwardRejectsBadCallsWithoutChangingTheCache) {
  write(TinyShape{});
  auto m = Qwen3Model::load(dir_);
  kernels::Context ctx(1);
  KvCache cache = m->make_cache(8);
  std::vector<float> out(97 * 8);
  const std::vector<int32_t> ok = {1, 2, 3};
  m->forward(ctx, ok, cache, Logits::kLast, out);
  EXPECT_EQ(cache.n_past(), 3);
  const std::vector<int32_t> bad_id = {5, 97};
  expect_error([&] { m->forward(ctx, bad_id, cache, Logits::kLast, out); }, {"token id 97", "index 1"});
  const std::vector<int32_t> too_many(6, 1);
  expect_error([&] { m->forward(ctx, too_many, cache, Logits::kNone, {}); }, {"overflow", "8 positions"});
  expect_error([&] { m->forward(ctx, ok, cache, Logits::kAll, std::span<float>(out).first(10)); },
               {"output span holds 10", "291"});
  const std::vector<int32_t> bad_rows = {3, -1};
  expect_error([&] { m->forward(ctx, ok, cache, Logits::kLast, out, bad_rows); }, {"vocab row -1"});
  expect_error([&] { m->forward(ctx, {}, cache, Logits::kLast, out); }, {"no tokens"});
  EXPECT_EQ(cache.n_past(), 3);
  expect_error([&] { cache.truncate(4); }, {"truncate(4)"});
  expect_error([&] { m->make_cache(4096); }, {"max_position_embeddings 2048"});
}

}  // namespace
}  // namespace qg::model
