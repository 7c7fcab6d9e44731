// What a moderation returns: the parsed verdict, the probabilities read at the
// grammar's decision points, the policy decision, the model's raw text, token
// counts and timings. Plain data; JSON lives in result_json.h.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "guard/labels.h"

namespace qg::guard {

// How the output is decoded (docs/guard.md "Modes").
enum class DecodeMode : uint8_t {
  kFast,        // forced tokens in chunks, argmax over the grammar's allowed tokens at decisions
  kText,        // greedy over the full vocabulary = HF generate(do_sample=False)
  kMaskedText,  // greedy one token at a time with grammar-disallowed tokens masked (proves fast)
};
std::string_view decode_mode_name(DecodeMode m);  // "fast", "text", "masked-text"

// Probabilities at the grammar's decisions (docs/guard.md "Probabilities").
// `full`: softmax over the whole vocabulary at that position, of the alternative's
// first token; optional (--no-probs skips the full-vocabulary softmax), `*_valid`.
// `renorm`: softmax over the logits of the alternatives offered there (the allowed
// rows), which fast mode always computes: `*_renorm_valid`. Both are absent when the
// decision was never reached in the canonical grammar (text-mode output that left
// the grammar).
struct Probabilities {
  bool safety_valid = false, safety_renorm_valid = false;
  std::array<double, kNumSafety> safety{}, safety_renorm{};         // index = Safety
  // At the first category position (the list's first entry, or None).
  bool category_valid = false, category_renorm_valid = false;
  std::array<double, kNumCategories + 1> category{}, category_renorm{};  // index = Category; [9] = None
  // category_chosen[c]: for each listed category c, the renormalised probability with
  // which it was chosen, at the list position where it was chosen (0 if not listed).
  std::array<double, kNumCategories> category_chosen{};
  // category_score[c]: max over the category positions the decoder reached (first
  // entry, and each further entry) of the renormalised probability of c there, over
  // the positions where c was offered. Never lower than category_chosen[c]: the
  // per-category score --thresholds compares (valid with category_renorm_valid).
  std::array<double, kNumCategories> category_score{};
  bool refusal_valid = false, refusal_renorm_valid = false;
  std::array<double, kNumRefusal> refusal{}, refusal_renorm{};      // index = Refusal
};
inline constexpr int kNoneIndex = kNumCategories;

struct Timings {
  double render_tokenize_ms = 0;  // chat template + tokenizer
  double prefill_ms = 0;          // forward over the prompt (and the first forced tokens)
  double decode_ms = 0;           // everything after the first decision logits
};

struct Result {
  Mode mode = Mode::kPrompt;
  DecodeMode decode = DecodeMode::kFast;
  Verdict verdict;
  Probabilities probs;
  bool flagged = false;
  std::vector<std::string> flag_reasons;  // why flagged ("Unsafe", "Violent p=0.41 >= 0.30", ...)
  std::string raw_text;                   // decoded output, special tokens skipped (as the official code)
  std::vector<int32_t> prompt_ids;        // filled only when asked (tests, --verbose json)
  std::vector<int32_t> output_ids;        // generated ids, including the final <|im_end|>
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  int64_t reused_prefix_tokens = 0;  // prompt tokens whose KV came from the previous moderation
  Timings timings;
  // Long input (--long-input window): the verdict is the worst over `windows` windows.
  bool windowed = false;
  int windows = 1;
  int worst_window = 0;
};

}  // namespace qg::guard
