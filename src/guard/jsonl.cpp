// The guard's JSON interface (see jsonl.h). The JSON keys are a public interface
// (docs/guard.md "JSON output"): add keys, never rename them.
#include "guard/jsonl.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/limits.h"
#include "guard/inputs.h"

namespace qg::guard {
namespace {

using nlohmann::ordered_json;

// Probabilities are written unrounded (shortest round-trip form): on a random or
// very confident model the full-vocabulary values can be far below 1e-6.
ordered_json probs_json(const Result& r) {
  ordered_json out = ordered_json::object();
  const Probabilities& p = r.probs;
  if (p.safety_valid) {
    ordered_json full, renorm;
    for (int i = 0; i < kNumSafety; ++i) {
      const std::string name(safety_name(static_cast<Safety>(i)));
      full[name] = p.safety[i];
      renorm[name] = p.safety_renorm[i];
    }
    out["safety"] = full;
    out["safety_renorm"] = renorm;
  }
  if (p.category_valid) {
    ordered_json full, renorm;
    for (Category c : categories_for(r.mode)) {
      const std::string name(category_name(c));
      full[name] = p.category[static_cast<int>(c)];
      renorm[name] = p.category_renorm[static_cast<int>(c)];
    }
    full["None"] = p.category[kNoneIndex];
    renorm["None"] = p.category_renorm[kNoneIndex];
    out["categories"] = full;
    out["categories_renorm"] = renorm;
  }
  if (p.refusal_valid) {
    ordered_json full, renorm;
    for (int i = 0; i < kNumRefusal; ++i) {
      const std::string name(refusal_name(static_cast<Refusal>(i)));
      full[name] = p.refusal[i];
      renorm[name] = p.refusal_renorm[i];
    }
    out["refusal"] = full;
    out["refusal_renorm"] = renorm;
  }
  return out;
}

}  // namespace

std::string result_to_json(const Result& r, const JsonOptions& opt) {
  ordered_json j;
  if (opt.line) j["line"] = *opt.line;
  if (opt.id_json) j["id"] = ordered_json::parse(*opt.id_json);
  j["mode"] = mode_name(r.mode);
  j["decode"] = decode_mode_name(r.decode);
  j["safety"] = r.verdict.safety ? ordered_json(safety_name(*r.verdict.safety)) : ordered_json(nullptr);
  j["categories"] = ordered_json::array();
  for (Category c : r.verdict.categories) j["categories"].push_back(category_name(c));
  if (r.mode == Mode::kResponse)
    j["refusal"] = r.verdict.refusal ? ordered_json(refusal_name(*r.verdict.refusal)) : ordered_json(nullptr);
  if (!r.verdict.unknown_categories.empty()) j["unknown_categories"] = r.verdict.unknown_categories;
  j["flagged"] = r.flagged;
  j["flag_reasons"] = r.flag_reasons;
  j["probabilities"] = probs_json(r);
  j["raw"] = r.raw_text;
  j["tokens"] = {{"prompt", r.prompt_tokens},
                 {"generated", r.generated_tokens},
                 {"reused_prefix", r.reused_prefix_tokens}};
  j["timings_ms"] = {{"render_tokenize", r.timings.render_tokenize_ms},
                     {"prefill", r.timings.prefill_ms},
                     {"decode", r.timings.decode_ms}};
  if (r.windowed) {
    j["windowed"] = true;
    j["windows"] = r.windows;
    j["worst_window"] = r.worst_window;
  }
  if (opt.include_ids) {
    j["prompt_ids"] = r.prompt_ids;
    j["output_ids"] = r.output_ids;
  }
  // Invalid UTF-8 cannot occur (the tokenizer decodes with replacement), but a
  // JSON writer must never throw on it: replace.
  return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

std::string error_to_json(int64_t line, const std::string& message) {
  ordered_json j;
  j["line"] = line;
  j["error"] = message;
  return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

std::string result_to_human(const Result& r) {
  char buf[64];
  std::string out = "Safety: ";
  if (!r.verdict.safety) {
    out += "(unparsable)";
  } else {
    out += safety_name(*r.verdict.safety);
    if (r.probs.safety_valid) {
      std::snprintf(buf, sizeof buf, " (p=%.2f)", r.probs.safety_renorm[static_cast<int>(*r.verdict.safety)]);
      out += buf;
    }
  }
  out += "  Categories: ";
  if (r.verdict.categories.empty()) {
    out += "None";
    if (r.probs.category_valid) {
      std::snprintf(buf, sizeof buf, " (p=%.2f)", r.probs.category_renorm[kNoneIndex]);
      out += buf;
    }
  }
  for (size_t i = 0; i < r.verdict.categories.size(); ++i) {
    const Category c = r.verdict.categories[i];
    if (i) out += ", ";
    out += category_name(c);
    if (r.probs.category_valid) {
      std::snprintf(buf, sizeof buf, " (p=%.2f)", r.probs.category_renorm[static_cast<int>(c)]);
      out += buf;
    }
  }
  if (r.mode == Mode::kResponse) {
    out += "  Refusal: ";
    if (!r.verdict.refusal) {
      out += "(none)";
    } else {
      out += refusal_name(*r.verdict.refusal);
      if (r.probs.refusal_valid) {
        std::snprintf(buf, sizeof buf, " (p=%.2f)", r.probs.refusal_renorm[static_cast<int>(*r.verdict.refusal)]);
        out += buf;
      }
    }
  }
  out += r.flagged ? "  flagged" : "  not flagged";
  if (r.windowed) out += "  (worst of " + std::to_string(r.windows) + " windows)";
  return out;
}


BatchStats run_batch(Classifier& clf, std::istream& in, std::ostream& out, const BatchOptions& opt,
                     const std::function<void(const std::string&)>& warn,
                     const std::function<void(int64_t)>& progress) {
  BatchStats st;
  std::string line;
  // A lost result is an error, not a warning: stop at the first failed write.
  auto emit = [&](const std::string& text) {
    out << text << '\n';
    out.flush();
    if (!out) throw OutputError(cat("cannot write results: write failed after ", st.ok + st.bad, " records"));
  };
  for (int64_t n = 1;; ++n) {
    const LineRead got = read_line(in, line, limits::kMaxLineBytes);
    if (got == LineRead::kEnd) break;
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    ++st.records;
    const std::string where = cat(opt.source_name, ":", n);
    // Every failure of one line, whatever its type, becomes that line's error record.
    std::string msg;
    bool failed = false;
    try {
      if (got == LineRead::kTooLong) fail(where, ": line longer than ", limits::kMaxLineBytes >> 20, " MiB");
      const InputRecord rec = parse_input_record(line, where);
      Result r = clf.classify(rec.conversation, opt.classify);
      apply_policy(opt.policy, r);
      JsonOptions jo;
      jo.line = n;
      jo.id_json = rec.id_json;
      jo.include_ids = opt.include_ids;
      emit(result_to_json(r, jo));
      ++st.ok;
      st.flagged += r.flagged;
      st.failing += fails(opt.fail_on, r);
    } catch (const OutputError&) {
      throw;
    } catch (const std::exception& e) {
      failed = true;
      msg = e.what();
    }
    if (failed) {
      // Input errors name the line already; model errors get it prefixed.
      if (msg.rfind(where, 0) != 0) msg = where + ": " + msg;
      emit(error_to_json(n, msg));
      ++st.bad;
      warn(msg);
      if (opt.strict_input) fail(msg, " (--strict-input: stopping)");
    }
    progress(st.records);
  }
  if (in.bad()) fail(opt.source_name, ": read error");
  return st;
}

}  // namespace qg::guard
