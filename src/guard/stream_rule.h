// guard/stream_rule: what Qwen3Guard-Stream's head outputs mean. The label maps come
// from config.json (weights::StreamHeadsConfig); here they become per-token verdicts
// (argmax label + its softmax probability, per head) and the streaming decision rule
// of the official evaluation code (QwenLM/Qwen3Guard eval/eval_stream.py, summarised
// in shared/spec/QWEN3GUARD.md §4.5 item 6): a response is flagged at token i when
// tokens i-1 and i are both Unsafe; failing that, when both are Controversial; a
// mixed pair does not fire. The run length and which levels count are configurable.
// No model, no engine, no text: pure functions over logits.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "weights/config.h"

namespace qg::guard {

enum class StreamRisk : uint8_t { kSafe, kUnsafe, kControversial };
const char* stream_risk_name(StreamRisk r);

// The label maps of a Stream checkpoint, checked: each risk map must name exactly
// Safe, Unsafe and Controversial (in any order: the index of each is read here),
// otherwise the decision rule could not be applied and loading fails.
struct StreamLabels {
  std::vector<StreamRisk> response_risk;        // head index -> level
  std::vector<StreamRisk> query_risk;
  std::vector<std::string> response_categories;  // head index -> name
  std::vector<std::string> query_categories;
  static StreamLabels from_config(const weights::StreamHeadsConfig& c);
};

// One position's reading of one head pair.
struct HeadVerdict {
  StreamRisk risk = StreamRisk::kSafe;
  float risk_prob = 0;       // softmax over the risk head, at the argmax
  int32_t category = 0;      // argmax of the category head (meaningful when risk != Safe)
  float category_prob = 0;   // softmax over the category head, at the argmax
};

// argmax (the lowest index wins an exact tie, as torch.argmax) and softmax in double.
HeadVerdict read_head(std::span<const float> risk_logits, std::span<const float> category_logits,
                      const std::vector<StreamRisk>& risk_labels);

struct StreamRuleConfig {
  int run = 2;                   // consecutive tokens needed (the official rule: 2)
  bool controversial = true;     // strict: a Controversial run also flags; loose: only Unsafe runs
  bool mixed = false;            // the technical report's prose: any run of non-Safe tokens, mixed
};

struct Flag {
  int64_t index = 0;             // index of the token (in the scored response) where the rule fired
  StreamRisk risk = StreamRisk::kUnsafe;
  int32_t category = 0;          // the category of that token
};

// Feeds verdicts in order; fires at most once (the first flagged position), as a
// streaming client wants. final_verdict() applies the evaluation code's priority over
// the whole response seen so far (an Unsafe run anywhere beats an earlier
// Controversial one), which is what an offline evaluation of the same tokens reports.
class StreamRule {
 public:
  explicit StreamRule(StreamRuleConfig cfg = {});
  // Returns the flag if this token made the rule fire for the first time.
  std::optional<Flag> push(const HeadVerdict& v);
  const std::optional<Flag>& first_flag() const { return first_; }
  std::optional<Flag> final_verdict() const;
  int64_t size() const { return n_; }
  void reset();

 private:
  StreamRuleConfig cfg_;
  int64_t n_ = 0;
  int run_unsafe_ = 0, run_controversial_ = 0, run_any_ = 0;
  std::optional<Flag> first_, first_unsafe_, first_controversial_, first_any_;
};

}  // namespace qg::guard
