// The Qwen3Guard-Gen label vocabulary: safety levels, the unsafe-content
// categories in the exact spelling the model emits, refusal, the moderation
// mode, and reading them back from the text the model wrote. Everything that names a Qwen3Guard label lives here so a future model
// version changes one file (docs/guard.md, spec QWEN3GUARD.md §2).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qg::guard {

// What the model judges. The chat template picks it from the role of the last
// message: "assistant" -> kResponse (adds the Refusal line), anything else -> kPrompt.
enum class Mode : uint8_t { kPrompt, kResponse };

enum class Safety : uint8_t { kSafe, kUnsafe, kControversial };
inline constexpr int kNumSafety = 3;

enum class Refusal : uint8_t { kYes, kNo };
inline constexpr int kNumRefusal = 2;

// The nine categories, in the order the template lists them. kJailbreak applies to
// prompt moderation only (the response template omits it).
enum class Category : uint8_t {
  kViolent,
  kNonViolentIllegalActs,
  kSexualContent,
  kPii,
  kSuicideSelfHarm,
  kUnethicalActs,
  kPoliticallySensitive,
  kCopyrightViolation,
  kJailbreak,
};
inline constexpr int kNumCategories = 9;

// Model spelling: "Safe", "Unsafe", "Controversial".
std::string_view safety_name(Safety s);
// Model spelling, e.g. "Non-violent Illegal Acts", "Suicide & Self-Harm", "PII".
std::string_view category_name(Category c);
// "Yes", "No".
std::string_view refusal_name(Refusal r);
// "prompt", "response".
std::string_view mode_name(Mode m);

// Exact (case-sensitive) match of the model spelling; nullopt otherwise.
std::optional<Safety> safety_from_name(std::string_view name);
std::optional<Category> category_from_name(std::string_view name);
std::optional<Refusal> refusal_from_name(std::string_view name);

// Lenient lookup for user-facing flags (--thresholds): also accepts any case and
// ignores spaces, '-', '_' and '&' ("violent", "non_violent_illegal_acts",
// "suicide-self-harm", "pii"). Throws qg::Error listing the valid names.
Category category_from_user_name(std::string_view name);

// The categories the template offers in a mode (Jailbreak only for prompts).
std::span<const Category> categories_for(Mode m);

// Mode from the role of the last message, as the template decides it.
Mode mode_from_last_role(std::string_view role);

// Severity order used to pick the worst verdict (long-input windows):
// Safe < Controversial < Unsafe.
int severity(Safety s);

// ---- Parsing: the text a Qwen3Guard-Gen model wrote into a verdict, the way the official
// README does it (regular expressions, tolerant of surrounding text):
//   safety     re.search(r"Safety: (Safe|Unsafe|Controversial)")
//   categories re.findall(r"(Violent|Non-violent Illegal Acts|...|Jailbreak|None)") over
//              the whole text (Jailbreak in prompt mode only)
//   refusal    re.search(r"Refusal: (Yes|No)")  (response mode only)
// Differences, all additive: categories are de-duplicated (first occurrence kept) and
// "None" is reported as a flag instead of a list entry; items on the "Categories:"
// line that are no known category are kept in `unknown_categories`. Nothing here
// throws: text that matches nothing gives safety = nullopt and the caller keeps the
// raw text.

struct Verdict {
  std::optional<Safety> safety;              // nullopt: the text had no "Safety: <label>"
  std::vector<Category> categories;          // output order, distinct, without None
  bool categories_none = false;              // the model wrote "None"
  std::vector<std::string> unknown_categories;  // "Categories:" line items that are not categories
  std::optional<Refusal> refusal;            // response mode only
};

Verdict parse_output(std::string_view text, Mode mode);

}  // namespace qg::guard
