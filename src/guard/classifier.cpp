// Classifier setup and the parts of a moderation around decoding: rendering,
// tokenizing, the context check, the KV-cache prefix reuse, and long-input windows.
// The decode loops are in decoder.cpp.
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
#include "guard/checkpoint.h"
#include "kernels/kernels.h"
#include "model/qwen3.h"
#include "tokenizer/tokenizer.h"

namespace qg::guard {

LongInput long_input_from_name(std::string_view name) {
  if (name == "error") return LongInput::kError;
  if (name == "window") return LongInput::kWindow;
  fail("unknown --long-input value '", name, "' (expected error or window)");
}

Classifier::~Classifier() = default;

std::unique_ptr<Classifier> Classifier::load(const ClassifierConfig& cfg) {
  std::unique_ptr<Classifier> c(new Classifier());
  c->cfg_ = cfg;
  c->kctx_ = std::make_unique<kernels::Context>(cfg.threads);
  c->model_ = load_model(cfg.model_dir, cfg.dtype);
  c->tok_ = load_tokenizer(cfg.model_dir);
  c->template_ = load_chat_template(cfg.model_dir, cfg.chat_template);
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

int64_t Classifier::reuse_cache(const std::vector<int32_t>& ids, int64_t extra_tokens) {
  const int64_t need = static_cast<int64_t>(ids.size()) + extra_tokens;
  if (!cache_ || cache_->n_ctx() < need) {
    // Grow in steps of 1024 positions (never past the context) so a batch of
    // similar prompts allocates once; a new cache holds nothing to reuse.
    const int64_t size = std::min(ctx_, (need + 1023) / 1024 * 1024);
    cache_ = std::make_unique<model::KvCache>(model_->config(), size);
    cache_ids_.clear();
  }
  size_t keep = 0;
  if (cfg_.reuse_prefix) {
    // Causal attention: the K/V of position i depend on tokens 0..i only, so a
    // common token prefix can stay. At least one token must be fed to get logits.
    const size_t limit = std::min(cache_ids_.size(), ids.size() - 1);
    while (keep < limit && cache_ids_[keep] == ids[keep]) ++keep;
  }
  cache_->truncate(static_cast<int64_t>(keep));
  cache_ids_.resize(keep);
  return static_cast<int64_t>(ids.size() - keep);
}

void Classifier::forward(std::span<const int32_t> tokens, bool full, std::span<const int32_t> rows) {
  const size_t n_out = full ? static_cast<size_t>(vocab_) : rows.size();
  if (logits_.size() < n_out) logits_.resize(n_out);
  model_->forward(*kctx_, tokens, *cache_, model::Logits::kLast, std::span<float>(logits_.data(), n_out),
                  full ? std::span<const int32_t>{} : rows);
  cache_ids_.insert(cache_ids_.end(), tokens.begin(), tokens.end());
}

Result Classifier::classify(const Conversation& conv, const ClassifyOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  const Prepared p = prepare(conv);
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
  Result r = run(p, opt);
  r.timings.render_tokenize_ms = render_ms;
  return r;
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
    Result r = run(p, opt);
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
