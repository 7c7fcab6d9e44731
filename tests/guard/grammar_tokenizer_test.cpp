// The output automaton compiled with the real Qwen3 tokenizer (shared/): the
// pieces, tokenized separately, must concatenate to exactly the tokenization of the
// whole output string (the canonical tokenization the model was trained on), for
// every path through the grammar; and every choice must be decided by its first
// token, which is what makes the reported probabilities per-alternative.
#include <random>

#include <gtest/gtest.h>

#include "guard/grammar.h"
#include "tokenizer/tokenizer.h"

namespace qg::guard {
namespace {

class GrammarTokenizer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tok_ = tok::Tokenizer::load(std::filesystem::path(QG_SHARED_DIR) / "qwen3guard/tokenizer/tokenizer.json")
               .release();
  }
  static void TearDownTestSuite() {
    delete tok_;
    tok_ = nullptr;
  }
  static Encoder encoder() {
    return [](std::string_view s) { return tok_->encode(s, Origin::kTemplate); };
  }
  static inline tok::Tokenizer* tok_ = nullptr;
};

TEST_F(GrammarTokenizer, KnownIds) {
  const OutputGrammar g(Mode::kPrompt, encoder(), 151645);
  // Checked against the HF tokenizer: "Safety" ":" and " Unsafe" are single tokens.
  EXPECT_EQ(g.piece_safety_head().ids, (std::vector<int32_t>{73037, 25}));
  EXPECT_EQ(g.safety_tokens(Safety::kUnsafe), std::vector<int32_t>{73067});
  EXPECT_EQ(g.piece_categories_head().ids, (std::vector<int32_t>{198, 20970, 25}));
}

TEST_F(GrammarTokenizer, EveryChoiceIsDecidedByItsFirstToken) {
  for (Mode mode : {Mode::kPrompt, Mode::kResponse}) {
    const OutputGrammar g(mode, encoder(), 151645);
    auto c = g.start();
    c = g.advance(g.advance(c, 73037), 25);  // "Safety:"
    EXPECT_EQ(g.decision_kind(c), DecisionKind::kSafety);
    EXPECT_EQ(g.allowed(c).size(), 3u);
    std::vector<int32_t> firsts;
    for (int i = 0; i <= kNumCategories; ++i) firsts.push_back(g.category_branch_token(i));
    std::sort(firsts.begin(), firsts.end());
    EXPECT_EQ(std::unique(firsts.begin(), firsts.end()), firsts.end()) << "category first tokens collide";
  }
}

// Random paths: automaton tokens == tokenizer(whole output + <|im_end|>).
TEST_F(GrammarTokenizer, PiecesConcatenateToTheCanonicalTokenization) {
  std::mt19937 rng(11);
  for (Mode mode : {Mode::kPrompt, Mode::kResponse}) {
    const OutputGrammar g(mode, encoder(), 151645);
    for (int trial = 0; trial < 300; ++trial) {
      auto c = g.start();
      std::vector<int32_t> ids;
      while (!g.done(c)) {
        const auto ok = g.allowed(c);
        // Bias towards ending lists so that short and long lists both occur.
        const int32_t t = ok[rng() % ok.size()];
        ids.push_back(t);
        c = g.advance(c, t);
      }
      ASSERT_TRUE(c.safety);
      const std::string text = OutputGrammar::format(mode, *c.safety, c.categories, c.refusal);
      EXPECT_EQ(ids, tok_->encode(text + "<|im_end|>", Origin::kTemplate)) << text;
      EXPECT_EQ(tok_->decode(ids, /*skip_special_tokens=*/true), text);
    }
  }
}

}  // namespace
}  // namespace qg::guard
