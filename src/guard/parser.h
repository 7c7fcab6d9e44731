// Parses the text a Qwen3Guard-Gen model wrote into a verdict, the way the official
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
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "guard/labels.h"

namespace qg::guard {

struct Verdict {
  std::optional<Safety> safety;              // nullopt: the text had no "Safety: <label>"
  std::vector<Category> categories;          // output order, distinct, without None
  bool categories_none = false;              // the model wrote "None"
  std::vector<std::string> unknown_categories;  // "Categories:" line items that are not categories
  std::optional<Refusal> refusal;            // response mode only
};

Verdict parse_output(std::string_view text, Mode mode);

}  // namespace qg::guard
