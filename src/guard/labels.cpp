// Label spellings, lookups and the tolerant output parser (see labels.h). The strings are the model's own
// output tokens, copied from the Gen chat template (spec QWEN3GUARD.md §2).
#include "guard/labels.h"

#include <algorithm>
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

namespace {

// Parsing is hand-written scanning rather than std::regex: the patterns are literal
// alternations, and re.findall's rules (leftmost match, alternatives tried in order,
// non-overlapping) are a few lines.

// The string after `prefix` at the first place it is followed by one of `names`
// (tried in order, like a regex alternation). Returns the index of the name.
template <size_t N>
std::optional<size_t> search_after(std::string_view text, std::string_view prefix,
                                   const std::array<std::string_view, N>& names) {
  for (size_t pos = text.find(prefix); pos != std::string_view::npos;
       pos = text.find(prefix, pos + 1)) {
    const std::string_view rest = text.substr(pos + prefix.size());
    for (size_t i = 0; i < N; ++i) {
      if (rest.starts_with(names[i])) return i;
    }
  }
  return std::nullopt;
}

std::string_view trim(std::string_view s) {
  const auto ws = " \t\r\n";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

}  // namespace

Verdict parse_output(std::string_view text, Mode mode) {
  Verdict v;
  const std::array<std::string_view, 3> safety = {"Safe", "Unsafe", "Controversial"};
  if (auto i = search_after(text, "Safety: ", safety)) v.safety = safety_from_name(safety[*i]);
  if (mode == Mode::kResponse) {
    const std::array<std::string_view, 2> refusal = {"Yes", "No"};
    if (auto i = search_after(text, "Refusal: ", refusal)) v.refusal = refusal_from_name(refusal[*i]);
  }

  // re.findall over the whole text: at each position try the alternatives in the
  // official order; on a match, continue after it.
  std::vector<std::string_view> alternatives;
  for (Category c : categories_for(mode)) alternatives.push_back(category_name(c));
  alternatives.push_back("None");
  for (size_t pos = 0; pos < text.size();) {
    size_t matched = 0;
    for (std::string_view alt : alternatives) {
      if (text.substr(pos).starts_with(alt)) {
        matched = alt.size();
        if (alt == "None") {
          v.categories_none = true;
        } else {
          const Category c = *category_from_name(alt);
          if (std::find(v.categories.begin(), v.categories.end(), c) == v.categories.end())
            v.categories.push_back(c);
        }
        break;
      }
    }
    pos += matched ? matched : 1;
  }

  // Unknown items: only on the first "Categories:" line, split at commas.
  if (size_t at = text.find("Categories:"); at != std::string_view::npos) {
    std::string_view line = text.substr(at + 11);
    line = line.substr(0, line.find('\n'));
    while (!line.empty()) {
      const size_t comma = line.find(',');
      const std::string_view item = trim(line.substr(0, comma));
      const bool known = item == "None" || std::find(alternatives.begin(), alternatives.end(), item) !=
                                               alternatives.end();
      if (!item.empty() && !known) v.unknown_categories.emplace_back(item);
      if (comma == std::string_view::npos) break;
      line = line.substr(comma + 1);
    }
  }
  return v;
}

}  // namespace qg::guard
