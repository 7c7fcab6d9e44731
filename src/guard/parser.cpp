// Tolerant parser of the model's text (see parser.h). Hand-written scanning rather
// than std::regex: the patterns are literal alternations, and re.findall's rules
// (leftmost match, alternatives tried in order, non-overlapping) are a few lines.
#include "guard/parser.h"

#include <algorithm>
#include <array>

namespace qg::guard {
namespace {

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
