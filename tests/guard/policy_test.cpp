// strict/loose reading of Controversial, thresholds, --fail-on.
#include "guard/policy.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace qg::guard {
namespace {

Result with_safety(std::optional<Safety> s) {
  Result r;
  r.verdict.safety = s;
  return r;
}

TEST(Policy, StrictAndLoose) {
  Policy strict, loose;
  loose.strictness = Strictness::kLoose;
  for (auto [s, want_strict, want_loose] :
       {std::tuple{Safety::kSafe, false, false}, std::tuple{Safety::kControversial, true, false},
        std::tuple{Safety::kUnsafe, true, true}}) {
    Result a = with_safety(s), b = with_safety(s);
    apply_policy(strict, a);
    apply_policy(loose, b);
    EXPECT_EQ(a.flagged, want_strict) << safety_name(s);
    EXPECT_EQ(b.flagged, want_loose) << safety_name(s);
  }
}

TEST(Policy, UnparsableFailsClosed) {
  Policy loose;
  loose.strictness = Strictness::kLoose;
  Result r = with_safety(std::nullopt);
  apply_policy(loose, r);
  EXPECT_TRUE(r.flagged);
  EXPECT_TRUE(fails(FailOn::kUnsafe, r));
}

TEST(Policy, Thresholds) {
  Policy p;
  p.thresholds = parse_thresholds("Violent=0.3,pii=0.5");
  ASSERT_EQ(p.thresholds.size(), 2u);
  Result r = with_safety(Safety::kSafe);
  r.probs.category_renorm_valid = true;
  r.probs.category_score[static_cast<int>(Category::kViolent)] = 0.29;
  r.probs.category_score[static_cast<int>(Category::kPii)] = 0.5;
  apply_policy(p, r);
  EXPECT_TRUE(r.flagged);
  ASSERT_EQ(r.flag_reasons.size(), 1u);
  EXPECT_NE(r.flag_reasons[0].find("PII"), std::string::npos);

  r.probs.category_score[static_cast<int>(Category::kPii)] = 0.1;
  apply_policy(p, r);
  EXPECT_FALSE(r.flagged);
  // No category probabilities (the output left the grammar): a guard fails closed,
  // thresholds are never silently skipped.
  r.probs.category_renorm_valid = false;
  r.probs.category_score[static_cast<int>(Category::kPii)] = 0.0;
  apply_policy(p, r);
  EXPECT_TRUE(r.flagged);
  ASSERT_EQ(r.flag_reasons.size(), 1u);
  EXPECT_NE(r.flag_reasons[0].find("not evaluable"), std::string::npos) << r.flag_reasons[0];
  // Without thresholds, absent probabilities change nothing.
  apply_policy(Policy{}, r);
  EXPECT_FALSE(r.flagged);
}

TEST(Policy, BadThresholds) {
  EXPECT_THROW(parse_thresholds("Violent"), Error);
  EXPECT_THROW(parse_thresholds("Violent=1.5"), Error);
  EXPECT_THROW(parse_thresholds("Violent=x"), Error);
  EXPECT_THROW(parse_thresholds("Hate=0.2"), Error);
  EXPECT_TRUE(parse_thresholds("").empty());
}

TEST(Policy, FailOn) {
  const Result safe = with_safety(Safety::kSafe), contro = with_safety(Safety::kControversial),
               unsafe = with_safety(Safety::kUnsafe);
  EXPECT_FALSE(fails(FailOn::kUnsafe, contro));
  EXPECT_TRUE(fails(FailOn::kUnsafe, unsafe));
  EXPECT_TRUE(fails(FailOn::kControversial, contro));
  EXPECT_FALSE(fails(FailOn::kControversial, safe));
  EXPECT_FALSE(fails(FailOn::kNever, unsafe));
  EXPECT_THROW(fail_on_from_name("sometimes"), Error);
}

}  // namespace
}  // namespace qg::guard
