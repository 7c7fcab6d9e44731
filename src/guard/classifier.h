// The moderation pipeline: conversation -> chat template (segments with provenance)
// -> tokens (content never matched for special tokens) -> prefill -> decode under the
// output grammar -> verdict, probabilities, raw text. One Classifier owns one model,
// one tokenizer, one template and one KV cache; it is not thread-safe (one engine
// thread owns it, docs/ARCHITECTURE.md). Decoding modes and probabilities are
// documented exactly in docs/guard.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "base/dtype.h"
#include "base/segment.h"
#include "guard/inputs.h"
#include "guard/grammar.h"
#include "guard/result.h"

namespace qg::tok {
class Tokenizer;
}
namespace qg::chat {
class ChatTemplate;
}
namespace qg::model {
class Qwen3Model;
class KvCache;
}
namespace qg::kernels {
class Context;
}

namespace qg::guard {

// What to do with a conversation that does not fit the context.
enum class LongInput : uint8_t {
  kError,   // refuse with an error naming the sizes (default)
  kWindow,  // moderate overlapping windows of the last message, report the worst verdict
};
LongInput long_input_from_name(std::string_view name);  // "error" | "window"

struct ClassifierConfig {
  std::filesystem::path model_dir;
  std::optional<std::filesystem::path> chat_template;  // --chat-template: overrides the checkpoint's
  int threads = 0;                                     // <= 0: QG_THREADS, else all cores
  int64_t ctx = 0;                                     // <= 0: config max_position_embeddings
  bool reuse_prefix = true;  // keep the KV of the longest common token prefix between moderations
  std::optional<DType> dtype;  // --dtype: weights re-encoded at load (nullopt: as stored)
};

struct ClassifyOptions {
  DecodeMode decode = DecodeMode::kFast;
  bool probabilities = true;  // full-vocabulary softmax at the root decisions
  LongInput long_input = LongInput::kError;
  int max_new_tokens = 128;  // text modes (HF generate's max_new_tokens of the official examples)
  bool keep_ids = false;     // fill Result::prompt_ids
  bool trace = false;        // fill Classifier::last_trace()
};

// One decision point, for tests against the reference pipeline.
struct DecisionTrace {
  int64_t position = 0;              // index of the token whose logits decide (in prompt+output)
  DecisionKind kind = DecisionKind::kNone;
  std::vector<int32_t> allowed;      // ascending
  std::vector<float> logits;         // [allowed.size()] the model's logits of the allowed tokens
  int32_t chosen = 0;
};

class Classifier {
 public:
  // Loads model, tokenizer and chat template from a checkpoint folder.
  static std::unique_ptr<Classifier> load(const ClassifierConfig& cfg);
  ~Classifier();

  Result classify(const Conversation& conv, const ClassifyOptions& opt);

  // The rendered prompt and its tokens (what classify() feeds the model).
  struct Prepared {
    Mode mode = Mode::kPrompt;
    Segments segments;
    std::vector<int32_t> ids;
  };
  Prepared prepare(const Conversation& conv) const;

  const tok::Tokenizer& tokenizer() const { return *tok_; }
  const OutputGrammar& grammar(Mode m) const { return m == Mode::kPrompt ? *prompt_grammar_ : *response_grammar_; }
  int64_t ctx() const { return ctx_; }
  // Most output tokens a moderation may need in a decode mode (context budget).
  int64_t output_budget(DecodeMode m, int max_new_tokens) const;
  const std::vector<DecisionTrace>& last_trace() const { return trace_; }

 private:
  Classifier() = default;
  // Decodes one prepared prompt that fits the context (decoder.cpp).
  Result run(const Prepared& p, const ClassifyOptions& opt);
  Result run_windowed(const Conversation& conv, const ClassifyOptions& opt);
  // Makes the cache hold a prefix of `ids` (reusing what it can), returns the number
  // of tokens still to feed from `ids`.
  int64_t reuse_cache(const std::vector<int32_t>& ids, int64_t extra_tokens);
  void forward(std::span<const int32_t> tokens, bool full, std::span<const int32_t> rows);

  ClassifierConfig cfg_;
  std::unique_ptr<kernels::Context> kctx_;
  std::unique_ptr<model::Qwen3Model> model_;
  std::unique_ptr<tok::Tokenizer> tok_;
  std::unique_ptr<chat::ChatTemplate> template_;
  std::unique_ptr<OutputGrammar> prompt_grammar_, response_grammar_;
  int64_t ctx_ = 0;
  int32_t vocab_ = 0;
  std::vector<int32_t> stop_ids_;  // <|im_end|>, <|endoftext|>
  std::unique_ptr<model::KvCache> cache_;
  std::vector<int32_t> cache_ids_;  // the tokens whose K/V the cache holds, in order
  std::vector<float> logits_;       // [vocab] or [rows]: the last forward's logits
  std::vector<DecisionTrace> trace_;
};

}  // namespace qg::guard
