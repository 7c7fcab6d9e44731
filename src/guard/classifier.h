// The moderation pipeline: conversation -> chat template (segments with provenance)
// -> tokens (content never matched for special tokens) -> prefill -> decode under the
// output grammar -> verdict, probabilities, raw text. One Classifier owns one model,
// one tokenizer, one template and one runtime::Engine (its thread runs every
// moderation's GenDecoder, batched with the others, over the engine's paged KV pool
// and prefix cache). classify() and submit() are thread-safe: rendering and
// tokenizing run on the caller's thread, the forward passes on the engine's.
// Decoding modes and probabilities are documented exactly in docs/guard.md.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
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
namespace qg::runtime {
class Engine;
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
  bool reuse_prefix = true;  // the engine's prefix cache (--no-prefix-reuse: prefix_cache = false)
  // The engine's settings (runtime::EngineConfig): --kv-dtype, --kv-cache-mb, --parallel.
  DType kv_dtype = DType::kF32;
  int64_t kv_cache_mb = 0;  // 0: runtime::kDefaultKvCacheMb
  int64_t kv_blocks = 0;    // > 0: exact KV pool size in blocks (tests)
  int parallel = 16;        // sequences scheduled together (max_running)
  std::string isa;          // "scalar" | "avx2" | "" (QG_FORCE_ISA, else the best)
};
DType kv_dtype_from_name(std::string_view name);  // "f32" | "f16"

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

// The fixed, shared things a GenDecoder reads (owned by the Classifier, immutable).
struct DecoderSetup {
  const OutputGrammar* prompt_grammar = nullptr;
  const OutputGrammar* response_grammar = nullptr;
  const tok::Tokenizer* tokenizer = nullptr;
  int32_t vocab = 0;
  std::vector<int32_t> stop_ids;  // <|im_end|>, <|endoftext|>
};

// Receives a moderation's result, or the error that ended it (then the Result is empty).
using ResultCallback = std::function<void(Result&&, std::exception_ptr)>;

class Classifier {
 public:
  // Loads model, tokenizer and chat template from a checkpoint folder.
  static std::unique_ptr<Classifier> load(const ClassifierConfig& cfg);
  ~Classifier();

  // Thread-safe and synchronous: submit() and wait. Calls from several threads are
  // batched together by the engine.
  Result classify(const Conversation& conv, const ClassifyOptions& opt);
  // Thread-safe and asynchronous: renders and tokenizes on the calling thread, then
  // queues the moderation; `done` is called exactly once, on the engine thread (or
  // on this one, before submit returns, for an error found here or for a
  // --long-input window moderation, which runs its windows one after the other),
  // with the result (policy not applied) or the error. Returns an id for cancel()
  // (0 when already finished). Throws runtime::QueueFull when the engine's queue is
  // full (done is then not called).
  using SeqId = uint64_t;
  SeqId submit(const Conversation& conv, const ClassifyOptions& opt, ResultCallback done);
  // Thread-safe, idempotent: the moderation ends with a runtime::Cancelled error.
  void cancel(SeqId id);

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
  int threads() const;
  // The engine (bench --pp/--tg runs its own drivers on it; stats for the server).
  runtime::Engine& engine() { return *engine_; }
  // Most output tokens a moderation may need in a decode mode (context budget).
  int64_t output_budget(DecodeMode m, int max_new_tokens) const;
  // The decisions of the last classify() with opt.trace (meaningful in single-threaded use).
  const std::vector<DecisionTrace>& last_trace() const { return trace_; }

 private:
  Classifier() = default;
  // Queues one prepared prompt that fits the context (a GenDecoder on the engine).
  SeqId start(Prepared p, const ClassifyOptions& opt, double render_ms, ResultCallback done);
  // Decodes one prepared prompt and waits (the windows of --long-input window).
  Result run(Prepared p, const ClassifyOptions& opt, double render_ms);
  Result run_windowed(const Conversation& conv, const ClassifyOptions& opt);

  ClassifierConfig cfg_;
  DecoderSetup setup_;  // what every GenDecoder reads (grammars, tokenizer, stop ids)
  std::unique_ptr<model::Qwen3Model> model_;
  std::unique_ptr<tok::Tokenizer> tok_;
  std::unique_ptr<chat::ChatTemplate> template_;
  std::unique_ptr<OutputGrammar> prompt_grammar_, response_grammar_;
  int64_t ctx_ = 0;
  int32_t vocab_ = 0;
  std::vector<int32_t> stop_ids_;  // <|im_end|>, <|endoftext|>
  std::mutex trace_mu_;
  std::vector<DecisionTrace> trace_;  // guarded by trace_mu_
  // Last member, so it is destroyed first: its thread stops (cancelling what is left)
  // while the grammars, tokenizer and model it uses still exist.
  std::unique_ptr<runtime::Engine> engine_;
};

}  // namespace qg::guard
