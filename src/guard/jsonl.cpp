// The guard's JSON interface (see jsonl.h). The JSON keys are a public interface
// (docs/guard.md "JSON output"): add keys, never rename them.
#include "guard/jsonl.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>

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
  auto safety_block = [&](const std::array<double, kNumSafety>& v) {
    ordered_json j;
    for (int i = 0; i < kNumSafety; ++i) j[std::string(safety_name(static_cast<Safety>(i)))] = v[i];
    return j;
  };
  auto category_block = [&](const auto& v, bool with_none) {
    ordered_json j;
    for (Category c : categories_for(r.mode)) j[std::string(category_name(c))] = v[static_cast<int>(c)];
    if (with_none) j["None"] = v[kNoneIndex];
    return j;
  };
  auto refusal_block = [&](const std::array<double, kNumRefusal>& v) {
    ordered_json j;
    for (int i = 0; i < kNumRefusal; ++i) j[std::string(refusal_name(static_cast<Refusal>(i)))] = v[i];
    return j;
  };
  if (p.safety_valid) out["safety"] = safety_block(p.safety);
  if (p.safety_renorm_valid) out["safety_renorm"] = safety_block(p.safety_renorm);
  if (p.category_valid) out["categories"] = category_block(p.category, true);
  if (p.category_renorm_valid) {
    out["categories_renorm"] = category_block(p.category_renorm, true);
    // Each listed category at the list position where it was chosen.
    ordered_json chosen = ordered_json::object();
    for (Category c : r.verdict.categories) chosen[std::string(category_name(c))] = p.category_chosen[static_cast<int>(c)];
    out["categories_chosen"] = chosen;
    out["category_scores"] = category_block(p.category_score, false);
  }
  if (p.refusal_valid) out["refusal"] = refusal_block(p.refusal);
  if (p.refusal_renorm_valid) out["refusal_renorm"] = refusal_block(p.refusal_renorm);
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
    if (r.probs.safety_renorm_valid) {
      std::snprintf(buf, sizeof buf, " (p=%.2f)", r.probs.safety_renorm[static_cast<int>(*r.verdict.safety)]);
      out += buf;
    }
  }
  out += "  Categories: ";
  if (r.verdict.categories.empty()) {
    out += "None";
    if (r.probs.category_renorm_valid) {
      std::snprintf(buf, sizeof buf, " (p=%.2f)", r.probs.category_renorm[kNoneIndex]);
      out += buf;
    }
  }
  for (size_t i = 0; i < r.verdict.categories.size(); ++i) {
    const Category c = r.verdict.categories[i];
    if (i) out += ", ";
    out += category_name(c);
    // The probability with which c was chosen, at its own list position.
    if (r.probs.category_renorm_valid) {
      std::snprintf(buf, sizeof buf, " (p=%.2f)", r.probs.category_chosen[static_cast<int>(c)]);
      out += buf;
    }
  }
  if (r.mode == Mode::kResponse) {
    out += "  Refusal: ";
    if (!r.verdict.refusal) {
      out += "(none)";
    } else {
      out += refusal_name(*r.verdict.refusal);
      if (r.probs.refusal_renorm_valid) {
        std::snprintf(buf, sizeof buf, " (p=%.2f)", r.probs.refusal_renorm[static_cast<int>(*r.verdict.refusal)]);
        out += buf;
      }
    }
  }
  out += r.flagged ? "  flagged" : "  not flagged";
  if (r.windowed) out += "  (worst of " + std::to_string(r.windows) + " windows)";
  return out;
}


namespace {

// One input record in flight: written, in input order, once its result is known.
struct Slot {
  int64_t line = 0;
  std::string where;
  std::optional<std::string> id_json;
  bool done = false;
  Result result;
  std::string error;  // non-empty: the line failed
};

// Any exception a line can end with, as a message that names the line. Input errors
// name it already; model errors get it prefixed; anything else (a bug, bad_alloc)
// is reported too: one line must never end the batch.
std::string line_error(std::exception_ptr e, const std::string& where) {
  std::string msg;
  try {
    std::rethrow_exception(e);
  } catch (const Error& x) {
    msg = x.what();
  } catch (const std::exception& x) {
    msg = cat("internal error: ", x.what());
  } catch (...) {
    msg = "internal error: unknown exception";
  }
  if (msg.rfind(where, 0) != 0) msg = where + ": " + msg;
  return msg;
}

}  // namespace

BatchStats run_batch(const SubmitFn& submit, std::istream& in, std::ostream& out, const BatchOptions& opt,
                     const std::function<void(const std::string&)>& warn,
                     const std::function<void(int64_t)>& progress) {
  BatchStats st;
  std::deque<Slot> window;  // deque: slots stay put while callbacks fill them
  std::mutex mu;
  std::condition_variable cv;
  int64_t written = 0;
  const size_t parallel = static_cast<size_t>(std::max(1, opt.parallel));
  auto wait_front = [&] {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return window.front().done; });
  };
  auto drain = [&] {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return std::all_of(window.begin(), window.end(), [](const Slot& s) { return s.done; }); });
  };
  // A lost result is an error, not a warning: stop at the first failed write (after the
  // callbacks of lines in flight are done with the window).
  auto emit = [&](const std::string& text) {
    out << text << '\n';
    out.flush();
    if (!out) {
      drain();
      throw OutputError(cat("cannot write results: write failed after ", st.ok + st.bad, " records"));
    }
  };
  // Writes the finished slots at the front of the window, in order.
  auto write_ready = [&] {
    for (;;) {
      Slot slot;
      {
        std::lock_guard lock(mu);
        if (window.empty() || !window.front().done) return;
        slot = std::move(window.front());
        window.pop_front();
      }
      std::string json;
      if (slot.error.empty()) {
        try {  // the policy and the JSON of one line must not end the batch either
          apply_policy(opt.policy, slot.result);
          JsonOptions jo;
          jo.line = slot.line;
          jo.id_json = slot.id_json;
          jo.include_ids = opt.include_ids;
          json = result_to_json(slot.result, jo);
        } catch (...) {
          slot.error = line_error(std::current_exception(), slot.where);
        }
      }
      if (slot.error.empty()) {
        emit(json);
        ++st.ok;
        st.flagged += slot.result.flagged;
        st.failing += fails(opt.fail_on, slot.result);
      } else {
        emit(error_to_json(slot.line, slot.error));
        ++st.bad;
        warn(slot.error);
      }
      progress(++written);
      if (!slot.error.empty() && opt.strict_input) {
        drain();  // callbacks of later lines still point into the window
        fail(slot.error, " (--strict-input: stopping)");
      }
    }
  };

  std::string line;
  try {
    for (int64_t n = 1;; ++n) {
      // Bounded: a line without an end (a 10 GB line, a pipe from /dev/zero) must not take
      // all memory; an over-long line is that line's error.
      const LineRead got = read_line(in, line, limits::kMaxLineBytes);
      if (got == LineRead::kEnd) break;
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      ++st.records;
      Slot* slot;
      {
        std::lock_guard lock(mu);
        window.emplace_back();
        slot = &window.back();
        slot->line = n;
        slot->where = cat(opt.source_name, ":", n);
      }
      try {
        if (got == LineRead::kTooLong) fail(slot->where, ": line longer than ", limits::kMaxLineBytes >> 20, " MiB");
        InputRecord rec = parse_input_record(line, slot->where);
        slot->id_json = rec.id_json;
        submit(rec.conversation, opt.classify, [&, slot](Result&& r, std::exception_ptr e) {
          std::lock_guard lock(mu);
          if (e) {
            slot->error = line_error(e, slot->where);
          } else {
            slot->result = std::move(r);
          }
          slot->done = true;
          cv.notify_all();
        });
      } catch (...) {
        std::lock_guard lock(mu);
        if (!slot->done) {
          slot->error = line_error(std::current_exception(), slot->where);
          slot->done = true;
        }
      }
      write_ready();
      while (window.size() >= parallel) {
        wait_front();
        write_ready();
      }
    }
    while (!window.empty()) {
      wait_front();
      write_ready();
    }
  } catch (...) {
    // --strict-input or a failing output stream: the callbacks of the lines still in
    // flight point into `window`, so wait for them before it goes away.
    drain();
    throw;
  }
  if (in.bad()) fail(opt.source_name, ": read error");
  return st;
}

BatchStats run_batch(Classifier& clf, std::istream& in, std::ostream& out, const BatchOptions& opt,
                     const std::function<void(const std::string&)>& warn,
                     const std::function<void(int64_t)>& progress) {
  const SubmitFn submit = [&clf](const Conversation& conv, const ClassifyOptions& copt, ResultCallback done) {
    clf.submit(conv, copt, std::move(done));
  };
  return run_batch(submit, in, out, opt, warn, progress);
}

}  // namespace qg::guard
