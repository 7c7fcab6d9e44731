// Classifier setup and the parts of a moderation around decoding: rendering,
// tokenizing, the context check, handing a GenDecoder (gen_decoder.cpp) to the
// engine, and long-input windows. Prefix reuse is the engine's prefix cache: every
// prompt of a mode starts with the same ~200-token instructions, whose full KV blocks
// are computed once and shared (exact: the cache compares token ids).
//
// --long-input window: a conversation too long for the context is moderated as
// overlapping windows of its last message (the one under moderation), each
// re-rendered through the chat template so the instructions and the output format
// stay intact. The reported result is the worst window's (Unsafe > Controversial >
// Safe; an unparsable answer counts as worst, a guard fails closed), marked
// windowed. The model was not trained on truncated text: this is a fallback, which
// is why it is opt-in. Windows overlap by a quarter so that no sentence is seen only
// cut in two.
#include "guard/classifier.h"

#include <algorithm>
#include <chrono>

#include "base/error.h"
#include "chat/chat_template.h"
#include "guard/gen_decoder.h"
#include "kernels/kernels.h"
#include "model/qwen3.h"
#include "runtime/engine.h"
#include "tokenizer/tokenizer.h"

#include <future>

namespace qg::guard {

LongInput long_input_from_name(std::string_view name) {
  if (name == "error") return LongInput::kError;
  if (name == "window") return LongInput::kWindow;
  fail("unknown --long-input value '", name, "' (expected error or window)");
}

DType kv_dtype_from_name(std::string_view name) {
  if (name == "f32") return DType::kF32;
  if (name == "f16") return DType::kF16;
  fail("unknown --kv-dtype '", name, "' (expected f32 or f16)");
}

Classifier::~Classifier() = default;

int Classifier::threads() const { return engine_->config().threads; }

std::unique_ptr<Classifier> Classifier::load(const ClassifierConfig& cfg) {
  std::unique_ptr<Classifier> c(new Classifier());
  c->cfg_ = cfg;
  if (cfg.kv_cache_mb < 0) fail("--kv-cache-mb ", cfg.kv_cache_mb, ": must be >= 0");
  if (cfg.parallel < 1) fail("--parallel ", cfg.parallel, ": must be >= 1");
  c->model_ = model::Qwen3Model::load(cfg.model_dir);
  c->tok_ = tok::Tokenizer::from_model_dir(cfg.model_dir);
  c->template_ = chat::ChatTemplate::from_model_dir(cfg.model_dir, cfg.chat_template);
  const auto& mc = c->model_->config();
  c->vocab_ = static_cast<int32_t>(mc.vocab_size);
  c->ctx_ = cfg.ctx > 0 ? cfg.ctx : static_cast<int64_t>(mc.max_position_embeddings);
  if (c->ctx_ <= 0) fail(cfg.model_dir.string(), ": config.json gives no max_position_embeddings; pass --ctx");

  auto id_of = [&](std::string_view name) {
    const auto id = c->tok_->token_to_id(name);
    if (!id) fail(cfg.model_dir.string(), ": the tokenizer has no ", name, " token (not a Qwen3 tokenizer?)");
    if (*id >= c->vocab_) fail(cfg.model_dir.string(), ": token ", name, " id ", *id, " >= vocab_size ", c->vocab_);
    return *id;
  };
  const int32_t im_end = id_of("<|im_end|>");
  c->stop_ids_ = {im_end, id_of("<|endoftext|>")};
  // The grammar's pieces are output text: tokenize them like template text.
  const tok::Tokenizer* t = c->tok_.get();
  const Encoder enc = [t](std::string_view s) { return t->encode(s, Origin::kTemplate); };
  c->prompt_grammar_ = std::make_unique<OutputGrammar>(Mode::kPrompt, enc, im_end);
  c->response_grammar_ = std::make_unique<OutputGrammar>(Mode::kResponse, enc, im_end);
  c->setup_ = DecoderSetup{c->prompt_grammar_.get(), c->response_grammar_.get(), c->tok_.get(), c->vocab_,
                           c->stop_ids_};
  runtime::EngineConfig ec;
  ec.threads = cfg.threads;
  ec.kv_dtype = cfg.kv_dtype;
  ec.kv_cache_mb = cfg.kv_cache_mb;
  ec.kv_blocks = cfg.kv_blocks;
  ec.max_running = cfg.parallel;
  ec.prefix_cache = cfg.reuse_prefix;
  ec.isa = cfg.isa;
  c->engine_ = std::make_unique<runtime::Engine>(*c->model_, ec);
  return c;
}

Classifier::Prepared Classifier::prepare(const Conversation& conv) const {
  if (conv.empty()) fail("empty conversation: nothing to moderate");
  std::vector<chat::Message> msgs;
  msgs.reserve(conv.size());
  for (const auto& m : conv) msgs.push_back({m.role, m.content});
  Prepared p;
  p.mode = mode_from_last_role(conv.back().role);
  // add_generation_prompt=false, as the official examples call apply_chat_template;
  // the Gen template writes the assistant header itself.
  p.segments = template_->render(msgs, chat::RenderOptions{});
  p.ids = tok_->encode(p.segments);
  return p;
}

int64_t Classifier::output_budget(DecodeMode m, int max_new_tokens) const {
  if (m == DecodeMode::kText) return max_new_tokens;
  // The longest grammatical output: every category listed (prompt mode has the most
  // categories, response mode the refusal line; count both to be safe).
  const OutputGrammar& g = *prompt_grammar_;
  int64_t n = g.piece_safety_head().ids.size() + g.piece_categories_head().ids.size() +
              g.piece_refusal_head().ids.size() + 1;
  size_t longest_label = 0, longest_refusal = 0;
  for (int i = 0; i < kNumSafety; ++i) longest_label = std::max(longest_label, g.safety_tokens(Safety(i)).size());
  for (int i = 0; i < kNumRefusal; ++i)
    longest_refusal = std::max(longest_refusal, g.refusal_tokens(Refusal(i)).size());
  n += longest_label + longest_refusal;
  for (int i = 0; i < kNumCategories; ++i)
    n += g.category_tokens(Category(i)).size() + g.piece_separator().ids.size();
  return std::min<int64_t>(n, m == DecodeMode::kMaskedText ? max_new_tokens : n);
}

Classifier::SeqId Classifier::start(Prepared p, const ClassifyOptions& opt, double render_ms, ResultCallback done) {
  // A template that renders nothing (or only text the tokenizer drops) leaves no
  // position to take logits at: refuse before queueing anything.
  if (p.ids.empty())
    fail("the chat template rendered no tokens for this conversation: nothing to moderate (check "
         "--chat-template)");
  auto dec = std::make_unique<GenDecoder>(
      setup_, p.mode, std::move(p.ids), opt, [render_ms, done = std::move(done)](DecodeOutcome&& o) {
        o.result.timings.render_tokenize_ms = render_ms;
        done(std::move(o.result), o.error);
      });
  return engine_->submit(std::move(dec));
}

Result Classifier::run(Prepared p, const ClassifyOptions& opt, double render_ms) {
  // The trace travels beside the result (ResultCallback carries none).
  std::promise<DecodeOutcome> promise;
  std::future<DecodeOutcome> future = promise.get_future();
  if (p.ids.empty())
    fail("the chat template rendered no tokens for this conversation: nothing to moderate (check "
         "--chat-template)");
  auto dec = std::make_unique<GenDecoder>(setup_, p.mode, std::move(p.ids), opt,
                                          [&promise](DecodeOutcome&& o) { promise.set_value(std::move(o)); });
  engine_->submit(std::move(dec));
  DecodeOutcome o = future.get();
  if (opt.trace) {
    std::lock_guard lock(trace_mu_);
    trace_ = std::move(o.trace);
  }
  if (o.error) std::rethrow_exception(o.error);
  o.result.timings.render_tokenize_ms = render_ms;
  return std::move(o.result);
}

void Classifier::cancel(SeqId id) {
  if (id != 0) engine_->cancel(id);
}

Classifier::SeqId Classifier::submit(const Conversation& conv, const ClassifyOptions& opt, ResultCallback done) {
  Result r;
  try {
    const auto t0 = std::chrono::steady_clock::now();
    Prepared p = prepare(conv);
    const double render_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const int64_t n = static_cast<int64_t>(p.ids.size());
    if (n + output_budget(opt.decode, opt.max_new_tokens) <= ctx_) return start(std::move(p), opt, render_ms, done);
    r = classify(conv, opt);  // too long: the error, or the windows one after the other
  } catch (const runtime::QueueFull&) {
    throw;
  } catch (...) {
    done(Result{}, std::current_exception());
    return 0;
  }
  done(std::move(r), nullptr);
  return 0;
}

Result Classifier::classify(const Conversation& conv, const ClassifyOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  Prepared p = prepare(conv);
  const double render_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const int64_t budget = output_budget(opt.decode, opt.max_new_tokens);
  const int64_t n = static_cast<int64_t>(p.ids.size());
  if (n + budget > ctx_) {
    if (opt.long_input == LongInput::kWindow) return run_windowed(conv, opt);
    fail("the conversation is ", n, " tokens after the chat template; with ", budget,
         " output tokens it exceeds the context of ", ctx_,
         " (raise --ctx up to the model's max_position_embeddings, or pass --long-input window "
         "to moderate overlapping windows)");
  }
  return run(std::move(p), opt, render_ms);
}

namespace {

// Moves `pos` back to the start of a UTF-8 character (never splits a code point).
size_t utf8_floor(std::string_view s, size_t pos) {
  pos = std::min(pos, s.size());
  while (pos > 0 && pos < s.size() && (static_cast<unsigned char>(s[pos]) & 0xC0) == 0x80) --pos;
  return pos;
}

// Prefers to cut after whitespace within the last eighth of [begin, end).
size_t soft_cut(std::string_view s, size_t begin, size_t end) {
  if (end >= s.size()) return s.size();
  for (size_t i = end; i > begin + (end - begin) * 7 / 8; --i) {
    if (s[i - 1] == ' ' || s[i - 1] == '\n') return i;
  }
  return end;
}

int rank(const Result& r) { return r.verdict.safety ? severity(*r.verdict.safety) : 3; }

}  // namespace

Result Classifier::run_windowed(const Conversation& conv, const ClassifyOptions& opt) {
  const std::string& content = conv.back().content;
  Conversation shell = conv;
  shell.back().content.clear();
  const int64_t overhead = static_cast<int64_t>(prepare(shell).ids.size());
  const int64_t budget = output_budget(opt.decode, opt.max_new_tokens);
  // Room for the window's own tokens; a few spare for merges at the window edges.
  const int64_t room = ctx_ - overhead - budget - 8;
  if (room < 64)
    fail("--long-input window: the conversation without its last message already takes ", overhead,
         " tokens; with ", budget, " output tokens only ", std::max<int64_t>(room, 0),
         " of the context of ", ctx_, " would remain for a window (raise --ctx)");

  const int64_t total = static_cast<int64_t>(tok_->encode(content, Origin::kContent).size());
  const double bytes_per_token = static_cast<double>(content.size()) / std::max<int64_t>(total, 1);
  Result worst;
  int n = 0;
  double render_ms = 0, prefill_ms = 0, decode_ms = 0;
  int64_t prompt_tokens = 0, generated = 0;
  for (size_t begin = 0; begin < content.size();) {
    size_t len = static_cast<size_t>(room * bytes_per_token * 0.9) + 1;
    Prepared p;
    size_t end;
    for (;;) {  // shrink until the rendered window fits
      end = soft_cut(content, begin, utf8_floor(content, begin + len));
      if (end <= begin) end = std::min(content.size(), begin + 1);
      Conversation w = conv;
      w.back().content = content.substr(begin, end - begin);
      p = prepare(w);
      if (static_cast<int64_t>(p.ids.size()) + budget <= ctx_) break;
      QG_CHECK(len > 1, "a window of one byte does not fit");
      len = len * 3 / 4;
    }
    Result r = run(std::move(p), opt, 0.0);
    render_ms += r.timings.render_tokenize_ms;
    prefill_ms += r.timings.prefill_ms;
    decode_ms += r.timings.decode_ms;
    prompt_tokens += r.prompt_tokens;
    generated += r.generated_tokens;
    if (n == 0 || rank(r) > rank(worst)) {
      worst = std::move(r);
      worst.worst_window = n;
    }
    ++n;
    if (end >= content.size()) break;
    // Next window starts a quarter of this one before its end.
    const size_t next = utf8_floor(content, end - (end - begin) / 4);
    begin = std::max(next, begin + 1);
  }
  worst.windowed = true;
  worst.windows = n;
  worst.timings = {render_ms, prefill_ms, decode_ms};
  worst.prompt_tokens = prompt_tokens;
  worst.generated_tokens = generated;
  return worst;
}

}  // namespace qg::guard
