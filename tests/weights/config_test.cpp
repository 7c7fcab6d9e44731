// Tests of Qwen3Config parsing: the real Gen configs parse to the documented
// dimensions, defaults follow transformers, and unsupported or inconsistent
// configs are refused with a message naming the field.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "base/error.h"
#include "testutil/checkpoint_writer.h"
#include "weights/config.h"

#ifndef QG_SHARED_DIR
#error "QG_SHARED_DIR must be defined by the build"
#endif

namespace qg::weights {
namespace {

std::string read(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

nlohmann::json base() { return testutil::config_json(testutil::TinyShape{}); }

void expect_error(const nlohmann::json& j, const std::vector<std::string>& fragments) {
  try {
    Qwen3Config::parse(j.dump(), "config.json");
    FAIL() << "accepted: " << j.dump();
  } catch (const Error& e) {
    for (const auto& f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
  }
}

TEST(ConfigTest, ParsesTheRealGenConfigs) {
  const std::string dir = std::string(QG_SHARED_DIR) + "/qwen3guard/gen/";
  const Qwen3Config c06 = Qwen3Config::parse(read(dir + "config-0.6B.json"));
  EXPECT_EQ(c06.hidden_size, 1024);
  EXPECT_EQ(c06.num_hidden_layers, 28);
  EXPECT_EQ(c06.num_attention_heads, 16);
  EXPECT_EQ(c06.num_key_value_heads, 8);
  EXPECT_EQ(c06.head_dim, 128);
  EXPECT_EQ(c06.q_dim(), 2048);  // head_dim * heads != hidden for Qwen3-0.6B
  EXPECT_EQ(c06.intermediate_size, 3072);
  EXPECT_EQ(c06.vocab_size, 151936);
  EXPECT_TRUE(c06.tie_word_embeddings);
  EXPECT_DOUBLE_EQ(c06.rope_theta, 1e6);
  EXPECT_DOUBLE_EQ(c06.rms_norm_eps, 1e-6);
  EXPECT_EQ(c06.eos_token_ids, std::vector<int32_t>{151645});
  EXPECT_EQ(c06.bos_token_id, 151643);
  const Qwen3Config c8 = Qwen3Config::parse(read(dir + "config-8B.json"));
  EXPECT_FALSE(c8.tie_word_embeddings);
  EXPECT_EQ(c8.hidden_size, 4096);
  EXPECT_EQ(c8.num_hidden_layers, 36);
}

TEST(ConfigTest, HeadDimDefaultsToHiddenOverHeads) {
  auto j = base();
  j.erase("head_dim");
  EXPECT_EQ(Qwen3Config::parse(j.dump()).head_dim, 32 / 4);
}

TEST(ConfigTest, EosMayBeAList) {
  auto j = base();
  j["eos_token_id"] = {96, 95, 96};
  EXPECT_EQ(Qwen3Config::parse(j.dump()).eos_token_ids, (std::vector<int32_t>{96, 95}));
}

TEST(ConfigTest, RefusesOtherArchitectures) {
  auto j = base();
  j["architectures"] = {"LlamaForCausalLM"};
  expect_error(j, {"config.json", "/architectures", "unsupported architecture \"LlamaForCausalLM\"",
                   "Qwen3ForCausalLM"});
  j["architectures"] = {"Qwen3ForGuardModel"};
  expect_error(j, {"Qwen3ForGuardModel"});
  j.erase("architectures");
  expect_error(j, {"/architectures is missing"});
}

TEST(ConfigTest, RefusesInconsistentValues) {
  auto j = base();
  j["num_key_value_heads"] = 3;
  expect_error(j, {"/num_key_value_heads 3", "divide num_attention_heads 4"});
  j = base();
  j["hidden_size"] = 0;
  expect_error(j, {"/hidden_size 0 is out of range (allowed: 1 to 65536)"});
  // Sizes are bounded before anything is allocated from them (docs/STYLE.md, "Limits").
  j = base();
  j["num_hidden_layers"] = 10000000;
  expect_error(j, {"/num_hidden_layers 10000000 is out of range (allowed: 1 to 1024)"});
  j = base();
  j["vocab_size"] = 18446744073709551615ull;
  expect_error(j, {"/vocab_size", "out of range"});
  j = base();
  j["rope_theta"] = 1e-30;
  expect_error(j, {"/rope_theta", "out of range"});
  j = base();
  j["rms_norm_eps"] = 0.5;
  expect_error(j, {"/rms_norm_eps", "out of range"});
  j = base();
  j["vocab_size"] = "many";
  expect_error(j, {"/vocab_size", "integer"});
  j = base();
  j.erase("num_hidden_layers");
  expect_error(j, {"/num_hidden_layers is missing"});
  j = base();
  j["head_dim"] = 7;
  expect_error(j, {"/head_dim 7", "even"});
  j = base();
  j["rms_norm_eps"] = -1;
  expect_error(j, {"/rms_norm_eps", "positive"});
  j = base();
  j["eos_token_id"] = 1000;
  expect_error(j, {"/eos_token_id 1000", "vocab_size 97"});
}

TEST(ConfigTest, RefusesUnimplementedFeatures) {
  auto j = base();
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  expect_error(j, {"/rope_scaling", "not supported"});
  j = base();
  j["attention_bias"] = true;
  expect_error(j, {"/attention_bias"});
  j = base();
  j["hidden_act"] = "gelu";
  expect_error(j, {"/hidden_act", "gelu"});
  j = base();
  j["use_sliding_window"] = true;
  expect_error(j, {"/use_sliding_window"});
}

TEST(ConfigTest, RefusesBadJsonAndMissingFile) {
  try {
    Qwen3Config::parse("{\"hidden_size\": ", "config.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("config.json: not valid JSON"), std::string::npos) << e.what();
  }
  const auto dir = testutil::temp_dir("config_missing");
  EXPECT_THROW(Qwen3Config::load(dir), Error);
  std::filesystem::remove_all(dir);
}

TEST(ConfigTest, StopIdsMergeGenerationConfig) {
  const auto dir = testutil::temp_dir("stop_ids");
  const Qwen3Config c = Qwen3Config::parse(base().dump());
  EXPECT_EQ(load_stop_token_ids(dir, c), std::vector<int32_t>{96});
  testutil::write_text(dir / "generation_config.json", R"({"eos_token_id": [95, 96]})");
  EXPECT_EQ(load_stop_token_ids(dir, c), (std::vector<int32_t>{95, 96}));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace qg::weights

// ---- Qwen3ForGuardModel (Qwen3Guard-Stream) ----
namespace qg::weights {
namespace {

TEST(StreamConfigTest, ParsesTheStreamConfig) {
  const Qwen3Config c = Qwen3Config::parse(read(std::string(QG_SHARED_DIR) + "/qwen3guard/stream/config-0.6B.json"));
  ASSERT_TRUE(c.is_stream());
  EXPECT_EQ(c.architecture, "Qwen3ForGuardModel");
  EXPECT_EQ(c.hidden_size, 1024);
  EXPECT_EQ(c.max_position_embeddings, 8192);
  EXPECT_EQ(c.stream->guard_inner_size, 512);
  EXPECT_EQ(c.stream->response_risk_levels, (std::vector<std::string>{"Safe", "Unsafe", "Controversial"}));
  EXPECT_EQ(c.stream->query_risk_levels, c.stream->response_risk_levels);
  ASSERT_EQ(c.stream->response_categories.size(), 8u);
  ASSERT_EQ(c.stream->query_categories.size(), 9u);
  EXPECT_EQ(c.stream->response_categories[0], "Violent");
  EXPECT_EQ(c.stream->query_categories[8], "Jailbreak");
  EXPECT_FALSE(Qwen3Config::parse(base().dump()).is_stream());
}

TEST(StreamConfigTest, RefusesWhatItCannotInterpret) {
  const auto stream = nlohmann::json::parse(read(std::string(QG_SHARED_DIR) + "/qwen3guard/stream/config-0.6B.json"));
  auto j = stream;
  j.erase("guard_inner_size");
  expect_error(j, {"config.json", "/guard_inner_size is missing", "Qwen3ForGuardModel"});
  j = stream;
  j.erase("response_category_map");
  expect_error(j, {"/response_category_map is missing"});
  j = stream;
  j["num_category"] = 7;  // disagrees with the 8-entry map
  expect_error(j, {"/response_category_map has 8 entries", "/num_category is 7"});
  j = stream;
  j["query_risk_level_map"] = {{"0", "Safe"}, {"1", "Unsafe"}, {"3", "Controversial"}};
  expect_error(j, {"/query_risk_level_map/3", "keys must be the indices"});
  j = stream;
  j["query_risk_level_map"] = {{"0", "Safe"}, {"1", "Unsafe"}, {"02", "Controversial"}};
  expect_error(j, {"/query_risk_level_map/02"});
  j = stream;
  j["response_risk_level_map"]["1"] = 5;
  expect_error(j, {"/response_risk_level_map/1 must be a non-empty string"});
  j = stream;
  j["query_category_map"] = nlohmann::json::array();
  expect_error(j, {"/query_category_map must be a non-empty object"});
}

}  // namespace
}  // namespace qg::weights
