// IncrementalEncoder: for random chunkings (fixed seeds) of multilingual text, the
// tokens emitted chunk by chunk must equal encode(whole text, kContent) exactly —
// and encode is itself checked against Hugging Face tokenizers (golden and fuzz
// tests). Inputs: the 26 RTP-LX locales from ../shared/qwen3guard/datasets, their NFD
// forms (combining marks split from their letters across chunks), and hand-made
// hazards for each hold-back rule (UTF-8 split inside a character, NFC composition,
// white-space runs before a newline or a word, contractions, digits, CRLF, invalid
// bytes). Also: a token is emitted as soon as it is final, not only at the end.
#include <gtest/gtest.h>
#include <utf8proc.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "base/error.h"
#include "tokenizer/incremental_encoder.h"
#include "tokenizer/tokenizer.h"

#ifndef QG_SHARED_DIR
#error "QG_SHARED_DIR must be defined by the build"
#endif

namespace qg::tok {
namespace {

const Tokenizer& tokenizer() {
  static const auto tok = Tokenizer::load(QG_TOKENIZER_JSON);
  return *tok;
}

// Texts by locale: the first 12 prompts of each, joined by varied white space.
std::map<std::string, std::string> rtp_lx_texts() {
  std::ifstream f(std::string(QG_SHARED_DIR) + "/qwen3guard/datasets/rtp-lx-sample.jsonl");
  std::map<std::string, std::string> out;
  std::map<std::string, int> count;
  static const char* kSeps[] = {"\n", " ", "  \n", "\n\n", "\t", "   ", "\r\n", " \n "};
  std::string line;
  while (std::getline(f, line)) {
    const auto j = nlohmann::json::parse(line);
    const std::string loc = j["locale"];
    if (count[loc]++ >= 12) continue;
    out[loc] += j["prompt"].get<std::string>();
    out[loc] += kSeps[count[loc] % 8];
  }
  return out;
}

std::string nfd(const std::string& s) {
  utf8proc_uint8_t* dst = nullptr;
  const auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()), static_cast<utf8proc_ssize_t>(s.size()),
                              &dst, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE));
  std::string out = n >= 0 ? std::string(reinterpret_cast<char*>(dst), static_cast<size_t>(n)) : s;
  std::free(dst);
  return out;
}

// Streams `text` (after `prefix`) in chunks drawn by `next_size`; returns all tokens.
template <typename NextSize>
std::vector<int32_t> stream(const std::string& prefix, const std::string& text, NextSize next_size) {
  IncrementalEncoder enc(tokenizer(), prefix);
  std::vector<int32_t> out;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t n = std::min(text.size() - pos, next_size());
    enc.push(std::string_view(text).substr(pos, n), out);
    pos += n;
  }
  enc.finish(out);
  EXPECT_EQ(enc.held_bytes(), 0u);
  return out;
}

void expect_all_chunkings(const std::string& prefix, const std::string& text, uint32_t seed, const std::string& what) {
  const auto want = tokenizer().encode(prefix + text, Origin::kContent);
  EXPECT_EQ(stream(prefix, text, [] { return size_t{1}; }), want) << what << ": byte by byte";
  EXPECT_EQ(stream(prefix, text, [&] { return text.size() + 1; }), want) << what << ": one chunk";
  std::mt19937 rng(seed);
  for (int round = 0; round < 4; ++round) {
    // Short chunks (a few bytes, like a model's tokens) and long ones.
    const size_t max = round < 2 ? 6 : 64;
    std::uniform_int_distribution<size_t> d(1, max);
    EXPECT_EQ(stream(prefix, text, [&] { return d(rng); }), want) << what << ": random chunks <= " << max
                                                                   << ", round " << round;
  }
}

TEST(IncrementalEncoderTest, RandomChunkingsOfMultilingualTextEqualWholeText) {
  const auto texts = rtp_lx_texts();
  ASSERT_GE(texts.size(), 25u);
  uint32_t seed = 1;
  for (const auto& [loc, text] : texts) {
    expect_all_chunkings("", text, seed++, loc);
    expect_all_chunkings("\n\n", text, seed++, loc + " after the template's \\n\\n");
    expect_all_chunkings("", nfd(text), seed++, loc + " NFD");
  }
}

TEST(IncrementalEncoderTest, HoldBackHazards) {
  const std::vector<std::string> cases = {
      "word  \n  next",                 // spaces become part of "  \n"
      "a     b     \n\n\n   c",         // \s+(?!\S) backs off one space before a word
      "I'm sure they're here, we'll see'S",  // contractions split after the quote
      "12345 678.9 x1y2",              // digits are single pieces
      "e\xCC\x81t\xC3\xA9 cafe\xCC\x81\xCC\xA3",  // e + combining acute composes (NFC)
      "\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8 \xEA\xB0\x80\xE1\x86\xA8",  // Hangul jamo compose
      "emoji \xF0\x9F\x98\x80\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD done",     // 4-byte characters
      "line\r\nline\r\n\r\n  \r\nend  ",
      "bad \xFF\xFE bytes \xE0\x80 and \xF0\x9F\x98 cut",  // invalid UTF-8 -> U+FFFD
      "!!!\n\n???   ...\n",             // punctuation runs take the newlines
      "   ",                            // only white space
      "trailing incomplete \xE2\x82",   // ends inside a character
  };
  uint32_t seed = 100;
  for (const auto& c : cases) {
    expect_all_chunkings("", c, seed++, c);
    expect_all_chunkings("\n\n", c, seed++, "\\n\\n" + c);
  }
}

TEST(IncrementalEncoderTest, EmitsTokensBeforeTheEnd) {
  IncrementalEncoder enc(tokenizer());
  std::vector<int32_t> out;
  enc.push("Hello world, this is", out);
  // "Hello", " world", "," are final; " this" and " is" may still grow.
  const auto want = tokenizer().encode("Hello world, this is a test", Origin::kContent);
  ASSERT_GE(out.size(), 3u);
  EXPECT_TRUE(std::equal(out.begin(), out.end(), want.begin()));
  EXPECT_LE(enc.held_bytes(), std::string(" this is").size());
  enc.push(" a test", out);
  enc.finish(out);
  EXPECT_EQ(out, want);
}

TEST(IncrementalEncoderTest, BoundsTheHeldTail) {
  IncrementalEncoder enc(tokenizer(), {}, 64);
  std::vector<int32_t> out;
  EXPECT_THROW(enc.push(std::string(100, 'a'), out), Error);
  IncrementalEncoder enc2(tokenizer(), {}, 64);
  enc2.push(std::string(100, 'a') + " b", out);  // a boundary inside the chunk: fine
  EXPECT_LT(enc2.held_bytes(), 64u);
}

}  // namespace
}  // namespace qg::tok
