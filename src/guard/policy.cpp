// Policy decisions over a Result (see policy.h).
#include "guard/policy.h"

#include <cstdio>
#include <string>

#include "base/error.h"

namespace qg::guard {

std::string_view decode_mode_name(DecodeMode m) {
  switch (m) {
    case DecodeMode::kFast: return "fast";
    case DecodeMode::kText: return "text";
    case DecodeMode::kMaskedText: return "masked-text";
  }
  return "?";
}

Strictness strictness_from_name(std::string_view name) {
  if (name == "strict") return Strictness::kStrict;
  if (name == "loose") return Strictness::kLoose;
  fail("unknown policy '", name, "' (expected strict or loose)");
}

std::vector<std::pair<Category, double>> parse_thresholds(std::string_view spec) {
  std::vector<std::pair<Category, double>> out;
  while (!spec.empty()) {
    const size_t comma = spec.find(',');
    const std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) fail("--thresholds: '", item, "' is not NAME=PROBABILITY");
    const Category c = category_from_user_name(item.substr(0, eq));
    const std::string num(item.substr(eq + 1));
    char* end = nullptr;
    const double t = std::strtod(num.c_str(), &end);
    if (num.empty() || *end != '\0' || !(t >= 0.0 && t <= 1.0))
      fail("--thresholds: '", item, "': the threshold must be a number in [0, 1]");
    out.emplace_back(c, t);
  }
  return out;
}

void apply_policy(const Policy& policy, Result& r) {
  r.flag_reasons.clear();
  const auto& s = r.verdict.safety;
  if (!s) {
    r.flag_reasons.push_back("unparsable output");
  } else if (*s == Safety::kUnsafe) {
    r.flag_reasons.push_back("Unsafe");
  } else if (*s == Safety::kControversial && policy.strictness == Strictness::kStrict) {
    r.flag_reasons.push_back("Controversial (strict policy)");
  }
  if (!policy.thresholds.empty()) {
    if (!r.probs.category_renorm_valid) {
      // The scores exist whenever the decoder reached the categories in the grammar;
      // when it did not (text-mode output that left the format), the thresholds
      // cannot be evaluated, and a guard fails closed.
      r.flag_reasons.push_back("--thresholds not evaluable: no category probabilities (output left the grammar)");
    } else {
      for (const auto& [c, t] : policy.thresholds) {
        const double p = r.probs.category_score[static_cast<int>(c)];
        if (p >= t) {
          char buf[96];
          std::snprintf(buf, sizeof buf, "%s p=%.3f >= %.3f", std::string(category_name(c)).c_str(), p, t);
          r.flag_reasons.emplace_back(buf);
        }
      }
    }
  }
  r.flagged = !r.flag_reasons.empty();
}

FailOn fail_on_from_name(std::string_view name) {
  if (name == "flagged") return FailOn::kFlagged;
  if (name == "unsafe") return FailOn::kUnsafe;
  if (name == "controversial") return FailOn::kControversial;
  fail("unknown --fail-on value '", name, "' (expected flagged, unsafe or controversial)");
}

bool fails(FailOn rule, const Result& r) {
  const auto& s = r.verdict.safety;
  switch (rule) {
    case FailOn::kNever: return false;
    case FailOn::kFlagged: return r.flagged;
    case FailOn::kUnsafe: return !s || *s == Safety::kUnsafe;
    case FailOn::kControversial: return !s || *s != Safety::kSafe;
  }
  return false;
}

}  // namespace qg::guard
