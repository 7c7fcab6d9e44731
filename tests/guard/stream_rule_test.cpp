// StreamRule and the Stream label maps: the decision rule of the official evaluation
// code (eval_stream.py: two consecutive Unsafe, else two consecutive Controversial; a
// mixed pair does not fire), reported once; its configurable variants; head reading
// (argmax with the lowest index on ties, softmax probability).
#include <gtest/gtest.h>

#include <cmath>

#include "base/error.h"
#include "guard/stream_rule.h"

namespace qg::guard {
namespace {

constexpr auto S = StreamRisk::kSafe, U = StreamRisk::kUnsafe, C = StreamRisk::kControversial;

HeadVerdict v(StreamRisk r, int32_t cat = 0) {
  HeadVerdict h;
  h.risk = r;
  h.category = cat;
  return h;
}

// Pushes the sequence; returns the index of every push that fired.
std::vector<int64_t> fires(StreamRule& rule, const std::vector<StreamRisk>& seq) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < seq.size(); ++i) {
    if (auto f = rule.push(v(seq[i], static_cast<int32_t>(i)))) out.push_back(f->index);
  }
  return out;
}

TEST(StreamRuleTest, TwoConsecutiveUnsafeFireOnceAtTheSecond) {
  StreamRule r;
  EXPECT_EQ(fires(r, {S, U, S, U, U, U, U}), (std::vector<int64_t>{4}));
  ASSERT_TRUE(r.first_flag());
  EXPECT_EQ(r.first_flag()->risk, U);
  EXPECT_EQ(r.first_flag()->category, 4);  // the category of the token where it fired
}

TEST(StreamRuleTest, MixedPairDoesNotFire) {
  StreamRule r;
  EXPECT_TRUE(fires(r, {U, C, U, C, S, C, U}).empty());
  EXPECT_FALSE(r.final_verdict());
}

TEST(StreamRuleTest, ControversialRunFiresWhenStrictOnlyUnsafeWhenLoose) {
  StreamRule strict;
  EXPECT_EQ(fires(strict, {S, C, C, S}), (std::vector<int64_t>{2}));
  EXPECT_EQ(strict.first_flag()->risk, C);
  StreamRule loose({.run = 2, .controversial = false});
  EXPECT_TRUE(fires(loose, {S, C, C, S}).empty());
}

TEST(StreamRuleTest, FinalVerdictPrefersAnUnsafeRunAnywhere) {
  // Streaming reports the Controversial run first; the evaluation code's verdict over
  // the whole response is the later Unsafe run.
  StreamRule r;
  EXPECT_EQ(fires(r, {C, C, S, U, U}), (std::vector<int64_t>{1}));
  ASSERT_TRUE(r.final_verdict());
  EXPECT_EQ(r.final_verdict()->index, 4);
  EXPECT_EQ(r.final_verdict()->risk, U);
}

TEST(StreamRuleTest, RunLengthAndMixedVariants) {
  StreamRule three({.run = 3});
  EXPECT_EQ(fires(three, {U, U, S, U, U, U}), (std::vector<int64_t>{5}));
  StreamRule mixed({.run = 2, .controversial = true, .mixed = true});
  EXPECT_EQ(fires(mixed, {S, U, C, U}), (std::vector<int64_t>{2}));
  EXPECT_EQ(mixed.final_verdict()->index, 2);
  StreamRule one({.run = 1});
  EXPECT_EQ(fires(one, {S, C}), (std::vector<int64_t>{1}));
  EXPECT_THROW(StreamRule({.run = 0}), Error);
}

TEST(StreamRuleTest, ResetForgetsEverything) {
  StreamRule r;
  fires(r, {U, U});
  r.reset();
  EXPECT_FALSE(r.first_flag());
  EXPECT_EQ(r.size(), 0);
  EXPECT_EQ(fires(r, {U, S, U, U}), (std::vector<int64_t>{3}));
}

TEST(StreamLabelsTest, ReadsRiskIndicesFromTheMapsAndRefusesUnknownLabels) {
  weights::StreamHeadsConfig c;
  c.response_risk_levels = {"Unsafe", "Safe", "Controversial"};  // permuted: indices come from the map
  c.query_risk_levels = {"Safe", "Unsafe", "Controversial"};
  c.response_categories = {"A", "B"};
  c.query_categories = {"A", "B", "Jailbreak"};
  const StreamLabels l = StreamLabels::from_config(c);
  EXPECT_EQ(l.response_risk, (std::vector<StreamRisk>{U, S, C}));
  const float logits[] = {0.f, 2.f, 1.f};
  const float cats[] = {5.f, 5.f};
  const HeadVerdict h = read_head(logits, cats, l.response_risk);
  EXPECT_EQ(h.risk, S);  // index 1 is "Safe" in this map
  const double want = 1.0 / (std::exp(-2.0) + 1.0 + std::exp(-1.0));
  EXPECT_NEAR(h.risk_prob, want, 1e-6);
  EXPECT_EQ(h.category, 0);  // exact tie: the lowest index
  EXPECT_NEAR(h.category_prob, 0.5, 1e-7);
  c.query_risk_levels = {"Safe", "Unsafe", "Maybe"};
  EXPECT_THROW(StreamLabels::from_config(c), Error);
  c.query_risk_levels = {"Safe", "Unsafe", "Unsafe"};
  EXPECT_THROW(StreamLabels::from_config(c), Error);
}

}  // namespace
}  // namespace qg::guard
