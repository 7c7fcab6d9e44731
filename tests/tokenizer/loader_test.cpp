// tokenizer.json / tokenizer_config.json loading: a tiny valid tokenizer built here,
// then one defect at a time; each must be refused with an error naming the JSON path.
// Also both merge forms, on the real Qwen3 file (a pair-form copy is generated here).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "test_support.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer_json.h"

namespace qg::tok {
namespace {

using nlohmann::json;

// Byte-level vocabulary of all 256 bytes plus "ab" and "abc"; merges a+b, ab+c.
json tiny() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[std::string(ByteLevel::get().byte_to_string(static_cast<uint8_t>(b)))] = b;
  vocab["ab"] = 256;
  vocab["abc"] = 257;
  return {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", json::array({{{"id", 258}, {"content", "<|x|>"}, {"single_word", false}, {"lstrip", false},
                                     {"rstrip", false}, {"normalized", false}, {"special", true}}})},
      {"normalizer", {{"type", "NFC"}}},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         json::array({{{"type", "Split"}, {"pattern", {{"Regex", std::string(kQwen2Pattern)}}}, {"behavior", "Isolated"}, {"invert", false}},
                      {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}})}}},
      {"post_processor", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}},
      {"model",
       {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", ""},
        {"end_of_word_suffix", ""}, {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", false},
        {"vocab", vocab}, {"merges", json::array({"a b", "ab c"})}}},
  };
}

// Loads text and returns the error message ("" if it loaded).
std::string error_of(const std::string& text, const std::string& config = {}) {
  try {
    Tokenizer::from_json(text, config, "tokenizer.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string json_error_of(const json& j) { return error_of(j.dump()); }

TEST(TokenizerLoader, TinyTokenizerWorks) {
  auto tok = Tokenizer::from_json(tiny().dump());
  EXPECT_EQ(tok->encode("abc<|x|>ab", Origin::kTemplate), (std::vector<int32_t>{257, 258, 256}));
  EXPECT_EQ(tok->encode("abc<|x|>", Origin::kContent), (std::vector<int32_t>{257, '<', '|', 'x', '|', '>'}));
  EXPECT_EQ(tok->decode(std::vector<int32_t>{257, 258}, true), "abc");
  EXPECT_EQ(tok->vocab_size(), 259);
}

TEST(TokenizerLoader, RefusesBadInputNamingTheJsonPath) {
  struct Bad {
    const char* what;
    std::function<void(json&)> mutate;
    const char* path;
  };
  const std::vector<Bad> cases = {
      {"unknown model", [](json& j) { j["model"]["type"] = "WordPiece"; }, "/model/type"},
      {"no model type", [](json& j) { j["model"].erase("type"); }, "/model/type"},
      {"unknown pre-tokenizer", [](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["type"] = "Whitespace"; }, "/pre_tokenizer/pretokenizers/0/type"},
      {"other regex", [](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\s+"; }, "/pre_tokenizer/pretokenizers/0/pattern"},
      {"prefix space", [](json& j) { j["pre_tokenizer"]["pretokenizers"][1]["add_prefix_space"] = true; }, "/pre_tokenizer/pretokenizers/1/add_prefix_space"},
      {"no pre-tokenizer", [](json& j) { j["pre_tokenizer"] = nullptr; }, "/pre_tokenizer"},
      {"missing merges", [](json& j) { j["model"].erase("merges"); }, "/model/merges: missing"},
      {"missing vocab", [](json& j) { j["model"].erase("vocab"); }, "/model/vocab: missing"},
      {"bad merge entry", [](json& j) { j["model"]["merges"][1] = "abc"; }, "/model/merges/1"},
      {"merge of 3", [](json& j) { j["model"]["merges"][0] = json::array({"a", "b", "c"}); }, "/model/merges/0"},
      {"merge not in vocab", [](json& j) { j["model"]["merges"][1] = "ab d"; }, "/model/merges/1"},
      {"mixed merge forms", [](json& j) { j["model"]["merges"][1] = json::array({"ab", "c"}); }, "/model/merges/1"},
      {"merges not array", [](json& j) { j["model"]["merges"] = json::object(); }, "/model/merges"},
      {"vocab value", [](json& j) { j["model"]["vocab"]["ab"] = "x"; }, "/model/vocab/ab"},
      {"unknown normalizer", [](json& j) { j["normalizer"] = {{"type", "NFKC"}}; }, "/normalizer/type"},
      {"unknown decoder", [](json& j) { j["decoder"] = {{"type", "WordPiece"}}; }, "/decoder"},
      {"template post-processor", [](json& j) { j["post_processor"] = {{"type", "TemplateProcessing"}}; }, "/post_processor/type"},
      {"byte fallback", [](json& j) { j["model"]["byte_fallback"] = true; }, "/model/byte_fallback"},
      {"dropout", [](json& j) { j["model"]["dropout"] = 0.1; }, "/model/dropout"},
      {"added token content", [](json& j) { j["added_tokens"][0]["content"] = 5; }, "/added_tokens/0/content"},
      {"added token flag", [](json& j) { j["added_tokens"][0]["lstrip"] = "yes"; }, "/added_tokens/0/lstrip"},
      {"padding", [](json& j) { j["padding"] = {{"strategy", "BatchLongest"}}; }, "/padding"},
  };
  for (const Bad& b : cases) {
    json j = tiny();
    b.mutate(j);
    const std::string err = json_error_of(j);
    EXPECT_NE(err.find(std::string("tokenizer.json: ") + b.path), std::string::npos) << b.what << ": " << err;
  }
  EXPECT_NE(error_of("[1, 2]").find("tokenizer.json: /: expected an object"), std::string::npos);
  EXPECT_NE(error_of("{\"model\": ").find("tokenizer.json: byte "), std::string::npos);
  EXPECT_NE(error_of("").find("tokenizer.json: byte "), std::string::npos);
}

TEST(TokenizerLoader, ConfigSetsEosPadAndChecksAddedTokens) {
  const std::string t = tiny().dump();
  auto tok = Tokenizer::from_json(t, R"({"eos_token": "<|x|>", "pad_token": {"content": "ab"}})");
  EXPECT_EQ(tok->eos_id(), 258);
  EXPECT_EQ(tok->pad_id(), 256);
  EXPECT_NE(error_of(t, R"({"eos_token": "<|nope|>"})").find("/eos_token"), std::string::npos);
  EXPECT_NE(error_of(t, R"({"added_tokens_decoder": {"258": {"content": "<|y|>"}}})").find("/added_tokens_decoder/258/content"),
            std::string::npos);
  EXPECT_NE(error_of(t, R"({"added_tokens_decoder": {"x": {"content": "<|y|>"}}})").find("/added_tokens_decoder/x"),
            std::string::npos);
  auto more = Tokenizer::from_json(t, R"({"added_tokens_decoder": {"259": {"content": "<|y|>", "special": true}}})");
  EXPECT_EQ(more->encode("<|y|>", Origin::kTemplate), std::vector<int32_t>{259});
  EXPECT_TRUE(more->is_special(259));
}

TEST(TokenizerLoader, QwenConfigGivesImEndAndEndOfText) {
  const auto& tok = test::qwen3();
  EXPECT_EQ(tok.eos_id(), *tok.token_to_id("<|im_end|>"));
  EXPECT_EQ(tok.pad_id(), *tok.token_to_id("<|endoftext|>"));
  EXPECT_EQ(tok.vocab_size(), 151669);
  EXPECT_TRUE(tok.is_special(*tok.token_to_id("<|im_start|>")));
  EXPECT_FALSE(tok.is_special(*tok.token_to_id("<think>")));
  EXPECT_TRUE(tok.is_added(*tok.token_to_id("<think>")));
  EXPECT_EQ(tok.id_to_token(*tok.token_to_id("Ġworld")), "Ġworld");
  EXPECT_THROW(tok.id_to_token(-1), Error);
  EXPECT_THROW(tok.id_to_token(1 << 30), Error);
}

TEST(TokenizerLoader, PairFormMergesEncodeLikeStringForm) {
  json j = json::parse(test::read_all(test::shared_tokenizer_path()));
  ASSERT_TRUE(j["model"]["merges"][0].is_array() || j["model"]["merges"][0].is_string());
  json other = json::array();
  for (const auto& m : j["model"]["merges"]) {
    if (m.is_array()) {
      other.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
    } else {
      const std::string s = m;
      other.push_back(json::array({s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1)}));
    }
  }
  j["model"]["merges"] = other;
  auto converted = Tokenizer::from_json(j.dump());
  const auto& original = test::qwen3();
  for (const char* s : {"Hello world, this is a test of merges!", "Größenwahn 日本語のテキスト <|im_end|>", "   \n\n  code()"}) {
    EXPECT_EQ(converted->encode(s, Origin::kTemplate), original.encode(s, Origin::kTemplate)) << s;
  }
}

TEST(TokenizerLoader, FastReaderEqualsSaxReader) {
  const std::string text = test::read_all(test::shared_tokenizer_path());
  const TokenizerSpec fast = parse_tokenizer_json(text, "tokenizer.json", true);
  const TokenizerSpec sax = parse_tokenizer_json(text, "tokenizer.json", false);
  EXPECT_EQ(fast.vocab.size(), sax.vocab.size());
  size_t differ = 0;
  sax.vocab.for_each([&](std::string_view tok, int32_t id) { differ += fast.vocab.find(tok) != id; });
  EXPECT_EQ(differ, 0u);
  ASSERT_EQ(fast.merge_ids.size(), sax.merges.size());
  for (size_t i = 0; i < sax.merges.size(); ++i) {
    const auto& [a, b] = sax.merges[i];
    const MergeIds expect{sax.vocab.find(a), sax.vocab.find(b), sax.vocab.find(a + b)};
    ASSERT_EQ(fast.merge_ids[i], expect) << "merge " << i;
  }
  EXPECT_EQ(fast.added.size(), sax.added.size());
  EXPECT_EQ(fast.nfc, sax.nfc);
  EXPECT_GT(fast.merge_ids.size(), 150000u);
}

TEST(TokenizerLoader, MissingFileIsAnError) {
  EXPECT_THROW(Tokenizer::load("/nonexistent/tokenizer.json"), Error);
}

}  // namespace
}  // namespace qg::tok
