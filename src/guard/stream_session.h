// guard/stream_session: Qwen3Guard-Stream moderation of a response while it streams,
// one incremental step per new token, on the shared runtime::Engine.
//
// A session is one engine sequence whose driver parks (Next::kWait) between appends,
// so its KV blocks stay in the pool and each appended token costs one incremental
// forward step (no re-processing of the prefix). Appends of concurrent sessions are
// batched by the engine into the same forward passes; the engine's kernels are
// batch-invariant, so every head logit equals, bitwise, one full forward over the
// whole sequence (tests/guard/stream_session_test.cpp).
//
//   open(conversation)  renders it with the checkpoint's chat template and the
//                       generation prompt (enable_thinking=false: "<|im_start|>assistant\n
//                       <think>\n\n</think>\n\n"), feeds it, and returns the prompt
//                       verdict: the query heads at the <|im_end|> that closes the last
//                       user turn (QWEN3GUARD.md §4.5 step 2).
//   append_text(chunk)  response text of any size; IncrementalEncoder holds back the
//                       unfinished tail, so the tokens scored are exactly the tokens of
//                       the rendered conversation with the whole response so far.
//   append_ids(ids)     response token ids, as they come from a generator.
//   finish()            end of the response: the held tail, then "<|im_end|>\n".
// Each new token gets the response heads' verdict; StreamRule fires once, at the first
// flagged position (its category is reported with it).
//
// Bounds: at most max_sessions open; each at most max_tokens positions; a session idle
// for longer than idle_ttl_s is evicted (its blocks go back to the pool) and a later
// call on it fails with SessionGone saying why; close() and reset() are explicit.
// Thread-safe: calls on different sessions run concurrently; calls on one session are
// serialised. Every call blocks until the engine has scored its tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "chat/chat_template.h"
#include "guard/stream_rule.h"
#include "model/stream_heads.h"
#include "runtime/engine.h"

namespace qg::tok {
class Tokenizer;
}

namespace qg::guard {

struct StreamConfig {
  int64_t max_sessions = 256;
  int64_t max_tokens = 0;          // per session (prompt + response); 0: the engine's max_sequence_tokens()
  double idle_ttl_s = 600;         // evicted when idle longer; <= 0: never
  size_t max_held_bytes = 1 << 20; // text held back without a token boundary
  StreamRuleConfig rule;
};

// A call on a session that is closed, evicted, failed, or never existed.
class SessionGone : public Error {
 public:
  using Error::Error;
};
// open() while max_sessions are open and none is idle past its TTL (the server: 429).
class SessionLimit : public Error {
 public:
  using Error::Error;
};

struct PromptVerdict {
  int64_t position = 0;      // of the <|im_end|> closing the last user turn
  int64_t n_tokens = 0;      // tokens fed at open (prompt + assistant header)
  HeadVerdict query;         // query_risk_level / query_category heads there
};

struct TokenVerdict {
  int32_t token = 0;
  int64_t position = 0;      // in the whole sequence
  int64_t index = -1;        // in the scored response (-1: template text before the content, not scored by the rule)
  HeadVerdict response;      // risk_level / category heads
  std::vector<float> logits; // the position's raw heads: risk | category | query_risk | query_category
};

struct AppendResult {
  std::vector<TokenVerdict> tokens;  // one per new token, in order
  std::optional<Flag> flagged;       // set in the one result where the rule first fired
  size_t held_bytes = 0;             // text waiting for the next chunk to decide its tokens
};

struct FinishResult {
  AppendResult last;                 // the held tail and the closing "<|im_end|>\n"
  std::optional<Flag> first_flag;    // what the streaming rule reported (if it fired)
  std::optional<Flag> final_verdict; // the evaluation code's verdict over the whole response
  int64_t response_tokens = 0;
};

struct StreamStats {
  int64_t open = 0, opened = 0, closed = 0, evicted = 0, failed = 0;
  int64_t tokens_scored = 0;
};

class StreamModerator {
 public:
  using Id = uint64_t;
  struct Opened {
    Id id = 0;
    PromptVerdict prompt;
  };

  // The engine's model must be a Qwen3ForGuardModel. All referenced objects must
  // outlive the moderator. The heads run on the engine thread with a 1-thread
  // kernels::Context of the engine's ISA.
  StreamModerator(runtime::Engine& engine, const tok::Tokenizer& tok, const chat::ChatTemplate& tpl,
                  StreamConfig cfg = {});
  ~StreamModerator();  // closes every session
  StreamModerator(const StreamModerator&) = delete;
  StreamModerator& operator=(const StreamModerator&) = delete;

  // The conversation must end with a user message.
  Opened open(const std::vector<chat::Message>& conversation);
  // Already tokenized: ids end at (and include) the <|im_end|> closing the last user
  // turn, or continue with the assistant header; the last <|im_start|>user ...
  // <|im_end|> gives the prompt verdict. Appends are then token ids only.
  Opened open_ids(std::span<const int32_t> ids);

  AppendResult append_text(Id id, std::string_view chunk);
  AppendResult append_ids(Id id, std::span<const int32_t> ids);
  FinishResult finish(Id id);
  // Forgets the response (the session is as just after open, same prompt verdict);
  // the prompt's KV comes back from the engine's prefix cache.
  PromptVerdict reset(Id id);
  void close(Id id);  // idempotent for an open id; SessionGone for an unknown one
  // Evicts sessions idle past the TTL (also done by every open/append); returns how many.
  int64_t sweep();

  StreamStats stats() const;
  const StreamLabels& labels() const;
  const StreamConfig& config() const;
  const tok::Tokenizer& tokenizer() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Raw head logits of every position of `ids` in one engine sequence (the
// `qwen3guard stream --ids ... --all-positions` parity mode).
model::StreamHeadLogits stream_head_logits(runtime::Engine& engine, std::span<const int32_t> ids);

}  // namespace qg::guard
