// Result -> text: the JSON object of `classify --json` / each --output JSONL line
// (schema in docs/guard.md), and the one-line human summary.
#pragma once

#include <optional>
#include <string>

#include "guard/result.h"

namespace qg::guard {

struct JsonOptions {
  std::optional<int64_t> line;          // input line number (batch mode)
  std::optional<std::string> id_json;   // the input record's "id", as JSON text
  bool include_ids = false;             // prompt_ids / output_ids arrays
};

// One line of JSON, no trailing newline.
std::string result_to_json(const Result& r, const JsonOptions& opt);
// {"line": N, "error": "..."} for a bad input line.
std::string error_to_json(int64_t line, const std::string& message);

// e.g. "Safety: Unsafe (p=0.93)  Categories: Violent (p=0.88)  flagged"
// Probabilities are the renormalised ones (docs/guard.md); omitted when absent.
std::string result_to_human(const Result& r);

}  // namespace qg::guard
