// The tolerant parser must read what the official regexes read, never throw, and
// report what it could not place.
#include "guard/labels.h"

#include <gtest/gtest.h>

namespace qg::guard {
namespace {

TEST(Parser, OfficialExamples) {
  const Verdict a = parse_output("Safety: Unsafe\nCategories: Violent", Mode::kPrompt);
  ASSERT_TRUE(a.safety);
  EXPECT_EQ(*a.safety, Safety::kUnsafe);
  EXPECT_EQ(a.categories, std::vector<Category>{Category::kViolent});
  EXPECT_FALSE(a.categories_none);
  EXPECT_FALSE(a.refusal);

  const Verdict b = parse_output("Safety: Safe\nCategories: None\nRefusal: Yes", Mode::kResponse);
  EXPECT_EQ(b.safety, Safety::kSafe);
  EXPECT_TRUE(b.categories.empty());
  EXPECT_TRUE(b.categories_none);
  EXPECT_EQ(b.refusal, Refusal::kYes);
}

TEST(Parser, MultipleCategoriesInOrderAndDistinct) {
  const Verdict v = parse_output(
      "Safety: Controversial\nCategories: Suicide & Self-Harm, Non-violent Illegal Acts, PII, "
      "Suicide & Self-Harm",
      Mode::kPrompt);
  EXPECT_EQ(v.safety, Safety::kControversial);
  EXPECT_EQ(v.categories, (std::vector<Category>{Category::kSuicideSelfHarm,
                                                 Category::kNonViolentIllegalActs, Category::kPii}));
  EXPECT_TRUE(v.unknown_categories.empty());
}

TEST(Parser, TolerantOfExtraText) {
  const Verdict v = parse_output(
      "Sure. Here is my assessment:\n\nSafety: Unsafe\nCategories: Jailbreak\nThanks!", Mode::kPrompt);
  EXPECT_EQ(v.safety, Safety::kUnsafe);
  EXPECT_EQ(v.categories, std::vector<Category>{Category::kJailbreak});
}

TEST(Parser, UnparsableGivesNoSafety) {
  for (const char* text : {"", "I cannot help with that.", "safety: unsafe", "Safety:Unsafe",
                           "\xff\xfe garbage \x01", "Safety: "}) {
    const Verdict v = parse_output(text, Mode::kResponse);
    EXPECT_FALSE(v.safety) << text;
    EXPECT_FALSE(v.refusal) << text;
  }
}

TEST(Parser, UnknownCategoryIsKeptSeparately) {
  const Verdict v = parse_output("Safety: Unsafe\nCategories: Hate Speech, Violent", Mode::kPrompt);
  EXPECT_EQ(v.categories, std::vector<Category>{Category::kViolent});
  EXPECT_EQ(v.unknown_categories, std::vector<std::string>{"Hate Speech"});
}

TEST(Parser, JailbreakIsNotAResponseCategory) {
  const Verdict v = parse_output("Safety: Unsafe\nCategories: Jailbreak\nRefusal: No", Mode::kResponse);
  EXPECT_TRUE(v.categories.empty());
  EXPECT_EQ(v.unknown_categories, std::vector<std::string>{"Jailbreak"});
  EXPECT_EQ(v.refusal, Refusal::kNo);
}

TEST(Parser, RefusalIgnoredInPromptMode) {
  const Verdict v = parse_output("Safety: Safe\nCategories: None\nRefusal: Yes", Mode::kPrompt);
  EXPECT_FALSE(v.refusal);
}

TEST(Parser, FirstSafetyLineWins) {
  // re.search: the first "Safety: <label>" in the text.
  const Verdict v = parse_output("Safety: Maybe\nSafety: Safe\nSafety: Unsafe", Mode::kPrompt);
  EXPECT_EQ(v.safety, Safety::kSafe);
}

}  // namespace
}  // namespace qg::guard
