// Classifier setup and the parts of a moderation around decoding: rendering,
// tokenizing, the context check, the KV-cache prefix reuse. The decode loops are in
// decoder.cpp, long-input windows in window.cpp.
#include "guard/classifier.h"

#include <algorithm>
#include <chrono>

#include "base/error.h"
#include "chat/chat_template.h"
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

}  // namespace qg::guard
