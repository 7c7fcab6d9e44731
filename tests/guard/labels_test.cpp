// Label spellings and lookups: the strings must be the model's own spelling.
#include "guard/labels.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace qg::guard {
namespace {

TEST(Labels, RoundTripModelSpelling) {
  for (int i = 0; i < kNumCategories; ++i) {
    const auto c = static_cast<Category>(i);
    EXPECT_EQ(category_from_name(category_name(c)), c);
  }
  for (int i = 0; i < kNumSafety; ++i) {
    const auto s = static_cast<Safety>(i);
    EXPECT_EQ(safety_from_name(safety_name(s)), s);
  }
  EXPECT_EQ(category_name(Category::kSuicideSelfHarm), "Suicide & Self-Harm");
  EXPECT_EQ(category_name(Category::kNonViolentIllegalActs), "Non-violent Illegal Acts");
  EXPECT_FALSE(category_from_name("violent").has_value());  // exact spelling only
}

TEST(Labels, JailbreakOnlyForPrompts) {
  const auto p = categories_for(Mode::kPrompt);
  const auto r = categories_for(Mode::kResponse);
  EXPECT_EQ(p.size(), 9u);
  EXPECT_EQ(r.size(), 8u);
  for (Category c : r) EXPECT_NE(c, Category::kJailbreak);
}

TEST(Labels, ModeFromLastRole) {
  EXPECT_EQ(mode_from_last_role("assistant"), Mode::kResponse);
  EXPECT_EQ(mode_from_last_role("user"), Mode::kPrompt);
  EXPECT_EQ(mode_from_last_role("system"), Mode::kPrompt);
}

TEST(Labels, UserNamesAreLenient) {
  EXPECT_EQ(category_from_user_name("violent"), Category::kViolent);
  EXPECT_EQ(category_from_user_name("PII"), Category::kPii);
  EXPECT_EQ(category_from_user_name("suicide-self-harm"), Category::kSuicideSelfHarm);
  EXPECT_EQ(category_from_user_name("Non_violent_Illegal_Acts"), Category::kNonViolentIllegalActs);
  EXPECT_THROW(category_from_user_name("Hate"), Error);
}

TEST(Labels, SeverityOrder) {
  EXPECT_LT(severity(Safety::kSafe), severity(Safety::kControversial));
  EXPECT_LT(severity(Safety::kControversial), severity(Safety::kUnsafe));
}

}  // namespace
}  // namespace qg::guard
