// The output automaton on a byte-level toy tokenizer (one token per byte), where
// every alternative shares its first tokens with others: this exercises the trie
// (branch points below the root, forced shared prefixes). The same automaton on the
// real Qwen3 tokenizer is tested in grammar_tokenizer_test.cpp.
#include "guard/grammar.h"

#include <random>

#include <gtest/gtest.h>

#include "base/error.h"
#include "guard/labels.h"

namespace qg::guard {
namespace {

constexpr int32_t kEnd = 1000;

std::vector<int32_t> bytes(std::string_view s) {
  std::vector<int32_t> ids;
  for (unsigned char c : s) ids.push_back(c);
  return ids;
}

std::string text_of(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) {
    if (id != kEnd) s += static_cast<char>(id);
  }
  return s;
}

// Drives the automaton along `target` (which must be grammatical), checking that
// every token is allowed; returns the final cursor.
OutputGrammar::Cursor follow(const OutputGrammar& g, const std::vector<int32_t>& target) {
  auto c = g.start();
  for (int32_t tok : target) {
    const auto ok = g.allowed(c);
    EXPECT_TRUE(std::find(ok.begin(), ok.end(), tok) != ok.end()) << "token " << tok;
    c = g.advance(c, tok);
  }
  return c;
}

TEST(Grammar, FollowsOfficialExamples) {
  const OutputGrammar p(Mode::kPrompt, bytes, kEnd);
  auto ids = bytes("Safety: Unsafe\nCategories: Violent");
  ids.push_back(kEnd);
  auto c = follow(p, ids);
  EXPECT_TRUE(p.done(c));
  EXPECT_EQ(c.safety, Safety::kUnsafe);
  EXPECT_EQ(c.categories, std::vector<Category>{Category::kViolent});

  const OutputGrammar r(Mode::kResponse, bytes, kEnd);
  ids = bytes("Safety: Safe\nCategories: None\nRefusal: Yes");
  ids.push_back(kEnd);
  c = follow(r, ids);
  EXPECT_TRUE(r.done(c));
  EXPECT_EQ(c.safety, Safety::kSafe);
  EXPECT_TRUE(c.categories_none);
  EXPECT_EQ(c.refusal, Refusal::kYes);
}

// Advances without checking `allowed` first: advance() itself must refuse.
OutputGrammar::Cursor force(const OutputGrammar& g, const std::vector<int32_t>& target) {
  auto c = g.start();
  for (int32_t tok : target) c = g.advance(c, tok);
  return c;
}

TEST(Grammar, RejectsWhatItDoesNotAllow) {
  const OutputGrammar g(Mode::kPrompt, bytes, kEnd);
  EXPECT_THROW(g.advance(g.start(), 'X'), Error);
  // A repeated category, None after a category, Jailbreak in response mode.
  EXPECT_THROW(force(g, bytes("Safety: Unsafe\nCategories: PII, PII")), Error);
  EXPECT_THROW(force(g, bytes("Safety: Unsafe\nCategories: PII, None")), Error);
  const OutputGrammar r(Mode::kResponse, bytes, kEnd);
  EXPECT_THROW(force(r, bytes("Safety: Unsafe\nCategories: Jailbreak")), Error);
  // Prompt mode has no refusal line: after the list only <|im_end|> or ','.
  auto c = follow(g, bytes("Safety: Safe\nCategories: None"));
  EXPECT_EQ(g.allowed(c), std::vector<int32_t>{kEnd});
}

TEST(Grammar, BranchPointsAreBelowSharedPrefix) {
  // Every alternative starts with ' ': that token is forced, the decision is the next.
  const OutputGrammar g(Mode::kPrompt, bytes, kEnd);
  auto c = follow(g, bytes("Safety:"));
  EXPECT_EQ(g.allowed(c), std::vector<int32_t>{' '});
  EXPECT_EQ(g.decision_kind(c), DecisionKind::kNone);
  c = g.advance(c, ' ');
  EXPECT_EQ(g.decision_kind(c), DecisionKind::kSafety);
  EXPECT_EQ(g.allowed(c), (std::vector<int32_t>{'C', 'S', 'U'}));
  EXPECT_EQ(g.safety_branch_token(Safety::kControversial), 'C');
  // " Non-violent Illegal Acts" and " None" share " Non": 'e' vs '-' decides later.
  c = follow(g, bytes("Safety: Safe\nCategories: No"));
  EXPECT_EQ(g.allowed(c), std::vector<int32_t>{'n'});
  c = g.advance(c, 'n');
  EXPECT_EQ(g.allowed(c), (std::vector<int32_t>{'-', 'e'}));
  EXPECT_EQ(g.decision_kind(c), DecisionKind::kInner);
}

TEST(Grammar, ListEndsWhenEveryCategoryIsUsed) {
  const OutputGrammar g(Mode::kResponse, bytes, kEnd);
  std::vector<Category> all(categories_for(Mode::kResponse).begin(), categories_for(Mode::kResponse).end());
  const std::string text = OutputGrammar::format(Mode::kResponse, Safety::kUnsafe, all, Refusal::kNo);
  auto c = follow(g, bytes(text.substr(0, text.find("\nRefusal"))));
  EXPECT_EQ(g.allowed(c), std::vector<int32_t>{'\n'});  // no ',' left
  c = follow(g, [&] { auto v = bytes(text); v.push_back(kEnd); return v; }());
  EXPECT_EQ(c.categories, all);
}

// Random walks: whatever the decisions, the output is what format() writes and
// parses back to the cursor's record.
TEST(Grammar, RandomWalksParseBack) {
  std::mt19937 rng(7);
  for (Mode mode : {Mode::kPrompt, Mode::kResponse}) {
    const OutputGrammar g(mode, bytes, kEnd);
    int seen_lists = 0;
    for (int trial = 0; trial < 500; ++trial) {
      auto c = g.start();
      std::vector<int32_t> out;
      while (!g.done(c)) {
        const auto ok = g.allowed(c);
        ASSERT_FALSE(ok.empty());
        const int32_t tok = ok[rng() % ok.size()];
        out.push_back(tok);
        c = g.advance(c, tok);
        ASSERT_LT(out.size(), 1000u);
      }
      ASSERT_EQ(out.back(), kEnd);
      seen_lists += c.categories.size() > 1;
      const std::string text = text_of(out);
      ASSERT_TRUE(c.safety);
      EXPECT_EQ(text, OutputGrammar::format(mode, *c.safety, c.categories, c.refusal));
      const Verdict v = parse_output(text, mode);
      EXPECT_EQ(v.safety, c.safety) << text;
      EXPECT_EQ(v.categories, c.categories) << text;
      EXPECT_EQ(v.categories_none, c.categories_none) << text;
      EXPECT_EQ(v.refusal, c.refusal) << text;
      EXPECT_EQ(mode == Mode::kResponse, c.refusal.has_value());
    }
    EXPECT_GT(seen_lists, 10);
  }
}

TEST(Grammar, AmbiguousTokenizationIsAnError) {
  // A tokenizer where " Un" + "safe" would make " Un..." a prefix problem does not
  // arise with bytes; build one where " Safe" is a token prefix of " Safer"-like
  // alternatives: map " Unsafe" to the tokens of " Safe" plus one more.
  Encoder enc = [](std::string_view s) {
    if (s == " Unsafe") return std::vector<int32_t>{1, 2};
    if (s == " Safe") return std::vector<int32_t>{1};
    return bytes(s);
  };
  EXPECT_THROW(OutputGrammar(Mode::kPrompt, enc, kEnd), Error);
}

}  // namespace
}  // namespace qg::guard
