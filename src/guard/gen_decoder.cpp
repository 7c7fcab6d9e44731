// GenDecoder (gen_decoder.h): the fast, masked-text and text decode modes as a
// SequenceDriver, and the probabilities of docs/guard.md.
#include "guard/gen_decoder.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "tokenizer/tokenizer.h"

namespace qg::guard {
namespace {

double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

bool is_root(DecisionKind k) {
  return k == DecisionKind::kSafety || k == DecisionKind::kCategoryFirst || k == DecisionKind::kRefusal;
}

// log(sum(exp(logits))) in double, max-shifted: the softmax normaliser of a row.
template <typename F>
double log_sum_exp(size_t n, F logit_of) {
  double mx = logit_of(0);
  for (size_t i = 1; i < n; ++i) mx = std::max<double>(mx, logit_of(i));
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += std::exp(static_cast<double>(logit_of(i)) - mx);
  return mx + std::log(s);
}

// First maximum (the lowest id, allowed being ascending) of logit_of over allowed.
template <typename F>
int32_t argmax_allowed(const std::vector<int32_t>& allowed, F logit_of) {
  size_t best = 0;
  for (size_t i = 1; i < allowed.size(); ++i) {
    if (logit_of(i) > logit_of(best)) best = i;
  }
  return allowed[best];
}

// Index of `token` in the ascending `allowed`, or -1.
int index_of(const std::vector<int32_t>& allowed, int32_t token) {
  const auto it = std::lower_bound(allowed.begin(), allowed.end(), token);
  return it != allowed.end() && *it == token ? static_cast<int>(it - allowed.begin()) : -1;
}

void check_finite(std::span<const float> logits, int64_t position) {
  for (size_t i = 0; i < logits.size(); ++i) {
    if (!std::isfinite(logits[i]))
      fail("the model produced a non-finite logit (", logits[i], ", row ", i, ") at position ", position,
           ": no verdict (a broken checkpoint or a numeric overflow)");
  }
}

}  // namespace

GenDecoder::GenDecoder(const DecoderSetup& setup, Mode mode, std::vector<int32_t> prompt_ids,
                       const ClassifyOptions& opt, DecodeDone done)
    : setup_(setup),
      g_(mode == Mode::kPrompt ? *setup.prompt_grammar : *setup.response_grammar),
      opt_(opt),
      done_(std::move(done)),
      cursor_(g_.start()),
      pending_(std::move(prompt_ids)) {
  QG_CHECK(!pending_.empty(), "GenDecoder: empty prompt");
  r_.mode = mode;
  r_.decode = opt.decode;
  r_.prompt_tokens = static_cast<int64_t>(pending_.size());
  if (opt.keep_ids) r_.prompt_ids = pending_;
}

runtime::Next GenDecoder::next(runtime::Feed& feed) {
  if (error_ || finished_) return runtime::Next::kDone;
  feed.want_hidden = false;
  feed.want_logits = true;
  feed.vocab_rows.clear();
  if (opt_.decode == DecodeMode::kFast) {
    if (!next_fast(feed)) return runtime::Next::kDone;
  } else {
    if (step_ >= opt_.max_new_tokens) return runtime::Next::kDone;
    allowed_ = on_grammar_ ? g_.allowed(cursor_) : std::vector<int32_t>{};
    kind_ = on_grammar_ ? g_.decision_kind(cursor_) : DecisionKind::kNone;
    full_ = true;
  }
  feed.tokens = std::move(pending_);
  pending_.clear();
  feed.out_positions.assign(1, static_cast<int32_t>(feed.tokens.size() - 1));
  fed_ += static_cast<int64_t>(feed.tokens.size());
  fed_at_ = Clock::now();
  return runtime::Next::kFeed;
}

// Walks forced tokens into pending_ up to the next decision; false when the output
// is complete (the tail after the last decision is never fed).
bool GenDecoder::next_fast(runtime::Feed& feed) {
  while (!g_.done(cursor_)) {
    std::vector<int32_t> allowed = g_.allowed(cursor_);
    if (allowed.size() == 1) {
      r_.output_ids.push_back(allowed[0]);
      pending_.push_back(allowed[0]);
      cursor_ = g_.advance(cursor_, allowed[0]);
      continue;
    }
    kind_ = g_.decision_kind(cursor_);
    full_ = opt_.probabilities && is_root(kind_);
    allowed_ = std::move(allowed);
    if (!full_) feed.vocab_rows = allowed_;
    return true;
  }
  finished_ = true;
  return false;
}

void GenDecoder::consume(const runtime::FeedOutput& out) {
  if (error_ || finished_) return;
  const auto now = Clock::now();
  (first_ ? r_.timings.prefill_ms : r_.timings.decode_ms) += ms_between(fed_at_, now);
  if (first_) r_.reused_prefix_tokens = out.cached_tokens;
  first_ = false;
  try {
    const size_t rows = full_ ? static_cast<size_t>(setup_.vocab) : allowed_.size();
    QG_CHECK(out.logits.size() >= rows, "GenDecoder: ", out.logits.size(), " logits, ", rows, " expected");
    const std::span<const float> logits = out.logits.first(rows);
    // The whole row when it feeds a softmax or the text-mode argmax; the allowed rows otherwise.
    check_finite(logits, fed_ - 1);
    if (opt_.decode == DecodeMode::kFast) {
      consume_fast(logits);
    } else {
      consume_text(logits);
    }
  } catch (...) {
    error_ = std::current_exception();
  }
}

void GenDecoder::consume_fast(std::span<const float> logits) {
  const auto logit_of = [&](size_t i) { return full_ ? logits[allowed_[i]] : logits[i]; };
  const int32_t tok = argmax_allowed(allowed_, logit_of);
  if (full_) record_full(kind_, logits);
  record_renorm(kind_, tok, logit_of);
  if (opt_.trace) {
    std::vector<float> al(allowed_.size());
    for (size_t i = 0; i < al.size(); ++i) al[i] = logit_of(i);
    trace_decision(kind_, tok, al);
  }
  // Forced or chosen, the token is output; it is fed only if a later decision needs
  // the logits after it.
  r_.output_ids.push_back(tok);
  pending_.push_back(tok);
  cursor_ = g_.advance(cursor_, tok);
}

void GenDecoder::consume_text(std::span<const float> logits) {
  ++step_;
  const bool masked = opt_.decode == DecodeMode::kMaskedText;
  const auto logit_of = [&](size_t i) { return logits[allowed_[i]]; };
  const int32_t tok = masked ? argmax_allowed(allowed_, logit_of)
                             : static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  if (on_grammar_ && allowed_.size() > 1) {
    if (opt_.probabilities && is_root(kind_)) record_full(kind_, logits);
    record_renorm(kind_, tok, logit_of);
    if (opt_.trace) {
      std::vector<float> al(allowed_.size());
      for (size_t i = 0; i < al.size(); ++i) al[i] = logit_of(i);
      trace_decision(kind_, tok, al);
    }
  }
  r_.output_ids.push_back(tok);
  if (on_grammar_) {
    if (index_of(allowed_, tok) >= 0) {
      cursor_ = g_.advance(cursor_, tok);
    } else {
      on_grammar_ = false;
    }
  }
  const auto& stop = setup_.stop_ids;
  if (masked ? g_.done(cursor_) : std::find(stop.begin(), stop.end(), tok) != stop.end()) finished_ = true;
  pending_.assign(1, tok);
}

void GenDecoder::record_full(DecisionKind kind, std::span<const float> logits) {
  const double lse = log_sum_exp(logits.size(), [&](size_t i) { return logits[i]; });
  const auto p = [&](int32_t token) { return std::exp(static_cast<double>(logits[token]) - lse); };
  Probabilities& pr = r_.probs;
  if (kind == DecisionKind::kSafety) {
    for (int i = 0; i < kNumSafety; ++i) pr.safety[i] = p(g_.safety_branch_token(static_cast<Safety>(i)));
    pr.safety_valid = true;
  } else if (kind == DecisionKind::kCategoryFirst) {
    pr.category.fill(0.0);
    for (Category c : categories_for(g_.mode()))
      pr.category[static_cast<int>(c)] = p(g_.category_branch_token(static_cast<int>(c)));
    pr.category[kNoneIndex] = p(g_.category_branch_token(kNoneIndex));
    pr.category_valid = true;
  } else if (kind == DecisionKind::kRefusal) {
    for (int i = 0; i < kNumRefusal; ++i) pr.refusal[i] = p(g_.refusal_branch_token(static_cast<Refusal>(i)));
    pr.refusal_valid = true;
  }
}

// The renormalised probability of an alternative is the softmax over the allowed
// rows at its branch token: the distribution fast mode decides on. Alternatives whose
// branch token is not allowed here (categories already listed, Jailbreak in response
// mode, None after the first entry) get 0.
template <typename F>
void GenDecoder::record_renorm(DecisionKind kind, int32_t chosen, F logit_of) {
  const double lse = log_sum_exp(allowed_.size(), logit_of);
  const auto p = [&](int32_t token) {
    const int i = index_of(allowed_, token);
    return i < 0 ? 0.0 : std::exp(static_cast<double>(logit_of(static_cast<size_t>(i))) - lse);
  };
  Probabilities& pr = r_.probs;
  if (kind == DecisionKind::kSafety) {
    for (int i = 0; i < kNumSafety; ++i) pr.safety_renorm[i] = p(g_.safety_branch_token(static_cast<Safety>(i)));
    pr.safety_renorm_valid = true;
  } else if (kind == DecisionKind::kRefusal) {
    for (int i = 0; i < kNumRefusal; ++i) pr.refusal_renorm[i] = p(g_.refusal_branch_token(static_cast<Refusal>(i)));
    pr.refusal_renorm_valid = true;
  } else if (kind == DecisionKind::kCategoryFirst || kind == DecisionKind::kCategoryNext) {
    const bool first = kind == DecisionKind::kCategoryFirst;
    if (first) {
      pr.category_renorm.fill(0.0);
      pr.category_renorm[kNoneIndex] = p(g_.category_branch_token(kNoneIndex));
    }
    for (Category c : categories_for(g_.mode())) {
      const int ci = static_cast<int>(c);
      const int32_t branch = g_.category_branch_token(ci);
      const double pc = p(branch);
      if (first) pr.category_renorm[ci] = pc;
      pr.category_score[ci] = std::max(pr.category_score[ci], pc);
      if (branch == chosen) pr.category_chosen[ci] = pc;
    }
    pr.category_renorm_valid = true;
  }
}

void GenDecoder::trace_decision(DecisionKind kind, int32_t chosen, const std::vector<float>& allowed_logits) {
  trace_.push_back(DecisionTrace{fed_ - 1, kind, allowed_, allowed_logits, chosen});
}

void GenDecoder::finish(std::exception_ptr error) noexcept {
  DecodeOutcome o;
  o.error = error ? error : error_;
  if (!o.error) {
    try {
      r_.generated_tokens = static_cast<int64_t>(r_.output_ids.size());
      r_.raw_text = setup_.tokenizer->decode(r_.output_ids, /*skip_special_tokens=*/true);
      r_.verdict = parse_output(r_.raw_text, r_.mode);
      o.result = std::move(r_);
      o.trace = std::move(trace_);
    } catch (...) {
      o.error = std::current_exception();
    }
  }
  if (done_) {
    try {
      done_(std::move(o));
    } catch (...) {
      // The callback's owner must not throw into the engine; nothing can be reported.
    }
  }
}

}  // namespace qg::guard
