// Label spellings and lookups (see labels.h). The strings are the model's own
// output tokens, copied from the Gen chat template (spec QWEN3GUARD.md §2).
#include "guard/labels.h"

#include <cctype>

#include "base/error.h"

namespace qg::guard {
namespace {

constexpr std::array<std::string_view, kNumSafety> kSafetyNames = {"Safe", "Unsafe", "Controversial"};
constexpr std::array<std::string_view, kNumRefusal> kRefusalNames = {"Yes", "No"};
constexpr std::array<std::string_view, kNumCategories> kCategoryNames = {
    "Violent",
    "Non-violent Illegal Acts",
    "Sexual Content or Sexual Acts",
    "PII",
    "Suicide & Self-Harm",
    "Unethical Acts",
    "Politically Sensitive Topics",
    "Copyright Violation",
    "Jailbreak",
};

constexpr std::array<Category, kNumCategories> kPromptCategories = {
    Category::kViolent,          Category::kNonViolentIllegalActs, Category::kSexualContent,
    Category::kPii,              Category::kSuicideSelfHarm,       Category::kUnethicalActs,
    Category::kPoliticallySensitive, Category::kCopyrightViolation, Category::kJailbreak,
};
// The response template lists the same categories without Jailbreak.
constexpr std::array<Category, kNumCategories - 1> kResponseCategories = {
    Category::kViolent,          Category::kNonViolentIllegalActs, Category::kSexualContent,
    Category::kPii,              Category::kSuicideSelfHarm,       Category::kUnethicalActs,
    Category::kPoliticallySensitive, Category::kCopyrightViolation,
};

// Lower-case letters and digits only: "Suicide & Self-Harm" -> "suicideselfharm".
std::string fold(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c)) out += static_cast<char>(std::tolower(c));
  }
  return out;
}

}  // namespace

std::string_view safety_name(Safety s) { return kSafetyNames[static_cast<int>(s)]; }
std::string_view category_name(Category c) { return kCategoryNames[static_cast<int>(c)]; }
std::string_view refusal_name(Refusal r) { return kRefusalNames[static_cast<int>(r)]; }
std::string_view mode_name(Mode m) { return m == Mode::kPrompt ? "prompt" : "response"; }

std::optional<Safety> safety_from_name(std::string_view name) {
  for (int i = 0; i < kNumSafety; ++i) {
    if (kSafetyNames[i] == name) return static_cast<Safety>(i);
  }
  return std::nullopt;
}

std::optional<Category> category_from_name(std::string_view name) {
  for (int i = 0; i < kNumCategories; ++i) {
    if (kCategoryNames[i] == name) return static_cast<Category>(i);
  }
  return std::nullopt;
}

std::optional<Refusal> refusal_from_name(std::string_view name) {
  for (int i = 0; i < kNumRefusal; ++i) {
    if (kRefusalNames[i] == name) return static_cast<Refusal>(i);
  }
  return std::nullopt;
}

Category category_from_user_name(std::string_view name) {
  const std::string key = fold(name);
  std::string valid;
  for (int i = 0; i < kNumCategories; ++i) {
    if (fold(kCategoryNames[i]) == key) return static_cast<Category>(i);
    valid += (i ? ", " : "");
    valid += kCategoryNames[i];
  }
  // Short aliases people type for the long names.
  if (key == "nonviolent" || key == "illegal") return Category::kNonViolentIllegalActs;
  if (key == "sexual") return Category::kSexualContent;
  if (key == "selfharm" || key == "suicide") return Category::kSuicideSelfHarm;
  if (key == "unethical") return Category::kUnethicalActs;
  if (key == "political" || key == "politics") return Category::kPoliticallySensitive;
  if (key == "copyright") return Category::kCopyrightViolation;
  fail("unknown category '", name, "' (valid: ", valid, ")");
}

std::span<const Category> categories_for(Mode m) {
  if (m == Mode::kPrompt) return kPromptCategories;
  return kResponseCategories;
}

Mode mode_from_last_role(std::string_view role) {
  return role == "assistant" ? Mode::kResponse : Mode::kPrompt;
}

int severity(Safety s) {
  switch (s) {
    case Safety::kSafe: return 0;
    case Safety::kControversial: return 1;
    case Safety::kUnsafe: return 2;
  }
  return 0;
}

}  // namespace qg::guard
