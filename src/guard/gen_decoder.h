// The Qwen3Guard-Gen decoder as resumable state: a runtime::SequenceDriver that the
// engine calls step by step (tests drive it with a synchronous harness too). It never calls
// the model itself; it says what to feed next and which logits it wants, and turns
// the logits it gets back into choices, probabilities and, at the end, a Result.
//
//   fast         first feed: the prompt + the forced tokens up to the first decision,
//                logits at the last of them only, over the allowed rows (the full
//                vocabulary at the three root decisions when probabilities are on);
//                each later feed: the chosen token + the forced tokens up to the next
//                decision. Nothing is fed after the last decision.
//   masked-text  one token per feed, full vocabulary, argmax over the tokens the
//                grammar allows: greedy decoding under a mask (proves fast).
//   text         one token per feed, argmax over the full vocabulary, stop at
//                <|im_end|>/<|endoftext|> or max_new_tokens: HF generate(do_sample=False).
//                A shadow grammar cursor follows the text while it stays grammatical,
//                so text mode reports the same probabilities where it can.
// Ties: the lowest token id wins, as torch.argmax / numpy.argmax return the first
// maximum. Logits that are not finite (NaN or ±inf, a broken checkpoint or kernel)
// end the sequence with an error: no verdict is ever computed from them.
// Probabilities: docs/guard.md "Probabilities". Not thread-safe: one thread (the
// engine's) calls next/consume/finish; the completion callback runs on that thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <vector>

#include "guard/classifier.h"
#include "runtime/engine.h"

namespace qg::guard {

// What a finished moderation hands back: the result (verdict parsed, policy not
// applied) and the decisions when traced; or the error that ended it.
struct DecodeOutcome {
  Result result;
  std::vector<DecisionTrace> trace;
  std::exception_ptr error;  // non-null: `result` is meaningless
};
using DecodeDone = std::function<void(DecodeOutcome&&)>;

class GenDecoder final : public runtime::SequenceDriver {
 public:
  // prompt_ids must be non-empty (the Classifier refuses an empty rendering).
  GenDecoder(const DecoderSetup& setup, Mode mode, std::vector<int32_t> prompt_ids, const ClassifyOptions& opt,
             DecodeDone done);
  runtime::Next next(runtime::Feed& feed) override;
  void consume(const runtime::FeedOutput& out) override;
  void finish(std::exception_ptr error) noexcept override;

 private:
  using Clock = std::chrono::steady_clock;
  bool next_fast(runtime::Feed& feed);
  void consume_fast(std::span<const float> logits);
  void consume_text(std::span<const float> logits);
  // Renormalised probabilities (and per-category scores) from the allowed rows'
  // logits at a decision of `kind`; `logit_of(i)` is the logit of allowed_[i].
  template <typename F>
  void record_renorm(DecisionKind kind, int32_t chosen, F logit_of);
  void record_full(DecisionKind kind, std::span<const float> full_logits);
  void trace_decision(DecisionKind kind, int32_t chosen, const std::vector<float>& allowed_logits);

  const DecoderSetup& setup_;
  const OutputGrammar& g_;
  ClassifyOptions opt_;
  DecodeDone done_;
  Result r_;
  std::vector<DecisionTrace> trace_;
  std::exception_ptr error_;  // set by consume (non-finite logits, grammar error)

  OutputGrammar::Cursor cursor_;
  std::vector<int32_t> pending_;  // tokens still to feed (first: the prompt)
  int64_t fed_ = 0;               // positions fed so far (prompt + output)
  int step_ = 0;                  // text modes: forwards so far
  bool on_grammar_ = true;        // text mode: the shadow cursor still follows the output
  bool finished_ = false;         // decoding is over; next() says kDone
  bool first_ = true;             // the next consume is the first feed's (prefill)
  // The decision the current feed's logits are for.
  std::vector<int32_t> allowed_;
  DecisionKind kind_ = DecisionKind::kNone;
  bool full_ = false;  // logits over the full vocabulary (else over allowed_)
  Clock::time_point fed_at_;
};

}  // namespace qg::guard
