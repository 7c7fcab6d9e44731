// The three decode loops (docs/guard.md "Modes"):
//   fast         feed every forced token, in one chunk, with the tokens that precede
//                the next decision; compute logits only at decisions, only for the
//                allowed rows unless probabilities are wanted there.
//   masked-text  one token per forward, full vocabulary, argmax over the tokens the
//                grammar allows: greedy decoding under a mask. Same decisions as fast
//                by construction; it exists to prove that.
//   text         one token per forward, argmax over the full vocabulary, stop at
//                <|im_end|>/<|endoftext|> or max_new_tokens: HF generate(do_sample=False).
//                A shadow grammar cursor follows the text while it stays grammatical,
//                so text mode reports the same probabilities where it can.
// Ties: the lowest token id wins, as torch.argmax / numpy.argmax return the first maximum.
#include <algorithm>
#include <chrono>
#include <cmath>

#include "base/error.h"
#include "guard/classifier.h"
#include "model/qwen3.h"
#include "tokenizer/tokenizer.h"

namespace qg::guard {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// log(sum(exp(logits))) in double, max-shifted: the softmax normaliser of a full row.
double log_sum_exp(std::span<const float> logits) {
  const float mx = *std::max_element(logits.begin(), logits.end());
  double s = 0;
  for (float l : logits) s += std::exp(static_cast<double>(l) - mx);
  return mx + std::log(s);
}

// Fills full and renormalised probabilities of alternatives whose branch tokens are
// `tokens` (one per alternative; alternatives sharing a token share its probability;
// a negative entry marks an alternative the mode does not offer).
template <size_t N>
void alternative_probs(std::span<const float> full_logits, const std::array<int32_t, N>& tokens,
                       std::array<double, N>& full, std::array<double, N>& renorm) {
  const double lse = log_sum_exp(full_logits);
  std::vector<int32_t> counted;
  double sum = 0;
  for (size_t i = 0; i < N; ++i) {
    full[i] = tokens[i] < 0 ? 0.0 : std::exp(static_cast<double>(full_logits[tokens[i]]) - lse);
    if (tokens[i] >= 0 && std::find(counted.begin(), counted.end(), tokens[i]) == counted.end()) {
      counted.push_back(tokens[i]);
      sum += full[i];
    }
  }
  for (size_t i = 0; i < N; ++i) renorm[i] = sum > 0 ? full[i] / sum : 0.0;
}

// Records the probabilities of a root decision from the full-vocabulary logits.
void record_probs(const OutputGrammar& g, DecisionKind kind, std::span<const float> logits, Probabilities& p) {
  if (kind == DecisionKind::kSafety) {
    std::array<int32_t, kNumSafety> t;
    for (int i = 0; i < kNumSafety; ++i) t[i] = g.safety_branch_token(static_cast<Safety>(i));
    alternative_probs(logits, t, p.safety, p.safety_renorm);
    p.safety_valid = true;
  } else if (kind == DecisionKind::kCategoryFirst) {
    std::array<int32_t, kNumCategories + 1> t;
    t.fill(-1);
    for (Category c : categories_for(g.mode())) t[static_cast<int>(c)] = g.category_branch_token(static_cast<int>(c));
    t[kNoneIndex] = g.category_branch_token(kNoneIndex);
    alternative_probs(logits, t, p.category, p.category_renorm);
    p.category_valid = true;
  } else if (kind == DecisionKind::kRefusal) {
    std::array<int32_t, kNumRefusal> t;
    for (int i = 0; i < kNumRefusal; ++i) t[i] = g.refusal_branch_token(static_cast<Refusal>(i));
    alternative_probs(logits, t, p.refusal, p.refusal_renorm);
    p.refusal_valid = true;
  }
}

bool is_root(DecisionKind k) {
  return k == DecisionKind::kSafety || k == DecisionKind::kCategoryFirst || k == DecisionKind::kRefusal;
}

// First maximum among `allowed` (ascending ids) of logits indexed by `index(i)`.
template <typename F>
int32_t argmax_allowed(const std::vector<int32_t>& allowed, F logit_of) {
  size_t best = 0;
  for (size_t i = 1; i < allowed.size(); ++i) {
    if (logit_of(i) > logit_of(best)) best = i;
  }
  return allowed[best];
}

}  // namespace

Result Classifier::run(const Prepared& p, const ClassifyOptions& opt) {
  const OutputGrammar& g = grammar(p.mode);
  Result r;
  r.mode = p.mode;
  r.decode = opt.decode;
  r.prompt_tokens = static_cast<int64_t>(p.ids.size());
  if (opt.keep_ids) r.prompt_ids = p.ids;
  trace_.clear();

  const auto t_head = Clock::now();
  const int64_t to_feed = reuse_cache(p, output_budget(opt.decode, opt.max_new_tokens), r.reused_prefix_tokens);
  r.timings.prefill_ms += ms_since(t_head);
  std::vector<int32_t> pending(p.ids.end() - to_feed, p.ids.end());
  bool first_forward = true;
  auto timed_forward = [&](bool full, std::span<const int32_t> rows) {
    const auto t = Clock::now();
    forward(pending, full, rows);
    pending.clear();
    (first_forward ? r.timings.prefill_ms : r.timings.decode_ms) += ms_since(t);
    first_forward = false;
  };
  const auto full_logits = [&] { return std::span<const float>(logits_.data(), static_cast<size_t>(vocab_)); };
  auto trace = [&](DecisionKind kind, const std::vector<int32_t>& allowed, bool full, int32_t chosen) {
    if (!opt.trace) return;
    DecisionTrace d{static_cast<int64_t>(cache_ids_.size()) - 1, kind, allowed, {}, chosen};
    for (size_t i = 0; i < allowed.size(); ++i) d.logits.push_back(full ? logits_[allowed[i]] : logits_[i]);
    trace_.push_back(std::move(d));
  };

  auto cursor = g.start();
  if (opt.decode == DecodeMode::kFast) {
    while (!g.done(cursor)) {
      const std::vector<int32_t> allowed = g.allowed(cursor);
      int32_t tok = allowed[0];
      if (allowed.size() > 1) {
        const DecisionKind kind = g.decision_kind(cursor);
        const bool full = opt.probabilities && is_root(kind);
        timed_forward(full, allowed);
        tok = full ? argmax_allowed(allowed, [&](size_t i) { return logits_[allowed[i]]; })
                   : argmax_allowed(allowed, [&](size_t i) { return logits_[i]; });
        if (full) record_probs(g, kind, full_logits(), r.probs);
        trace(kind, allowed, full, tok);
      }
      // Forced or chosen, the token is output; it is fed only if a later decision
      // needs the logits after it (the tail after the last decision never is).
      r.output_ids.push_back(tok);
      pending.push_back(tok);
      cursor = g.advance(cursor, tok);
    }
  } else {
    const bool masked = opt.decode == DecodeMode::kMaskedText;
    bool on_grammar = true;  // text mode: the shadow cursor still follows the output
    for (int step = 0; step < opt.max_new_tokens; ++step) {
      timed_forward(true, {});
      const std::span<const float> logits = full_logits();
      const std::vector<int32_t> allowed = on_grammar ? g.allowed(cursor) : std::vector<int32_t>{};
      const DecisionKind kind = on_grammar ? g.decision_kind(cursor) : DecisionKind::kNone;
      int32_t tok;
      if (masked) {
        tok = argmax_allowed(allowed, [&](size_t i) { return logits[allowed[i]]; });
      } else if (opt.choose) {
        tok = opt.choose(logits);
        QG_CHECK(tok >= 0 && tok < vocab_, "sampler chose token ", tok, " outside the vocabulary");
      } else {
        tok = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      }
      if (on_grammar && opt.probabilities && is_root(kind)) record_probs(g, kind, logits, r.probs);
      if (on_grammar && allowed.size() > 1) trace(kind, allowed, true, tok);
      r.output_ids.push_back(tok);
      if (on_grammar) {
        if (std::binary_search(allowed.begin(), allowed.end(), tok)) {
          cursor = g.advance(cursor, tok);
        } else {
          on_grammar = false;
        }
      }
      if (!masked && opt.on_token && !opt.on_token(tok, logits)) break;
      if (masked ? g.done(cursor) : std::find(stop_ids_.begin(), stop_ids_.end(), tok) != stop_ids_.end()) break;
      pending.assign(1, tok);
    }
  }
  r.generated_tokens = static_cast<int64_t>(r.output_ids.size());
  r.raw_text = tok_->decode(r.output_ids, /*skip_special_tokens=*/true);
  r.verdict = parse_output(r.raw_text, p.mode);
  return r;
}

}  // namespace qg::guard
