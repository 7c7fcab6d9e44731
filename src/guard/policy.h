// Turns a verdict into a yes/no decision for callers: the strict/loose reading of
// Controversial (Qwen3Guard technical report: strict counts it as unsafe, loose as
// safe), optional per-category probability thresholds, and the --fail-on rule.
#pragma once

#include <string_view>
#include <utility>
#include <vector>

#include "guard/labels.h"
#include "guard/result.h"

namespace qg::guard {

enum class Strictness : uint8_t { kStrict, kLoose };

struct Policy {
  Strictness strictness = Strictness::kStrict;
  // Flag when score(category) >= threshold, the score being Probabilities::
  // category_score (docs/guard.md). Always evaluated: when the scores are absent
  // (the output left the grammar before the categories) the result is flagged.
  std::vector<std::pair<Category, double>> thresholds;
};

// "strict" | "loose"; throws qg::Error otherwise.
Strictness strictness_from_name(std::string_view name);
// "Violent=0.3,PII=0.5" (names as category_from_user_name accepts); throws qg::Error
// naming the bad item.
std::vector<std::pair<Category, double>> parse_thresholds(std::string_view spec);

// Sets result.flagged and result.flag_reasons. An unparsable answer (safety
// absent) is flagged under both policies: a guard fails closed.
void apply_policy(const Policy& policy, Result& result);

// --fail-on: which results make the CLI exit with status 3.
enum class FailOn : uint8_t {
  kNever,
  kFlagged,        // flagged by the policy (including thresholds)
  kUnsafe,         // safety Unsafe (or unparsable)
  kControversial,  // Unsafe or Controversial (or unparsable)
};
FailOn fail_on_from_name(std::string_view name);  // "flagged" | "unsafe" | "controversial"
bool fails(FailOn rule, const Result& result);

}  // namespace qg::guard
