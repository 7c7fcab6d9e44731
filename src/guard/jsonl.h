// The guard's JSON interface: a Result as the JSON object of `classify --json` and of
// each --output JSONL line (schema in docs/guard.md), the one-line human summary, and
// the JSONL batch driver behind `classify --input`: one input record per line, one
// result per line in input order, written and flushed as soon as it is known (an
// interrupted run keeps everything done so far). A bad line is reported with its
// line number and skipped (its output line is {"line": N, "error": ...}), or stops
// the run with strict_input.
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <optional>
#include <ostream>
#include <string>

#include "base/error.h"
#include "guard/classifier.h"
#include "guard/policy.h"
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

// ---- JSONL batch driver

struct BatchOptions {
  ClassifyOptions classify;
  Policy policy;
  FailOn fail_on = FailOn::kNever;
  bool strict_input = false;  // stop at the first bad line (after writing its error)
  bool include_ids = false;
  std::string source_name = "input";  // for messages: "<source>:<line>"
  int parallel = 1;  // moderations in flight at once (--parallel); output stays in input order
};

struct BatchStats {
  int64_t records = 0;  // non-empty lines
  int64_t ok = 0;
  int64_t bad = 0;      // lines that could not be parsed or moderated
  int64_t flagged = 0;
  int64_t failing = 0;  // results matching fail_on
};

// Thrown by run_batch when writing a result fails (disk full, closed pipe): the run
// stops, because results would otherwise be lost silently.
class OutputError : public Error {
 public:
  using Error::Error;
};

// warn(message): a bad line (the CLI prints it to stderr).
// progress(records_done): after each record (the CLI draws its progress bar).
// Any exception of one line (parse, submit, or the moderation itself) becomes that
// line's error record; only --strict-input stops the batch.
BatchStats run_batch(Classifier& clf, std::istream& in, std::ostream& out, const BatchOptions& opt,
                     const std::function<void(const std::string&)>& warn,
                     const std::function<void(int64_t)>& progress);

// The same over any moderation service: submit(conv, options, done) starts one
// moderation and calls done exactly once, on any thread (possibly before it returns);
// at most opt.parallel are in flight. submit itself may throw for that line.
using SubmitFn = std::function<void(const Conversation&, const ClassifyOptions&, ResultCallback)>;
BatchStats run_batch(const SubmitFn& submit, std::istream& in, std::ostream& out, const BatchOptions& opt,
                     const std::function<void(const std::string&)>& warn,
                     const std::function<void(int64_t)>& progress);

}  // namespace qg::guard
