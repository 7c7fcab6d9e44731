// GenDecoder as a runtime::SequenceDriver, driven by a synchronous harness of this
// test instead of the engine: each feed goes through Qwen3Model::forward in two calls,
// the tokens before the first requested output without logits, then the rest with
// Logits::kAll, and the requested positions are picked out of the [n, rows] block.
// The driver must give what Classifier::classify (on the engine) gives (output ids, verdict,
// probabilities, decision logits) in all three modes; and the driver's protocol holds
// (first feed = the prompt + forced tokens, outputs at the decision only, the allowed
// rows unless the full vocabulary is wanted, finish called once).
#include <gtest/gtest.h>

#include "guard/classifier.h"
#include "guard/gen_decoder.h"
#include "guard/inputs.h"
#include "kernels/kernels.h"
#include "model/qwen3.h"
#include "tokenizer/tokenizer.h"

namespace qg::guard {
namespace {

namespace fs = std::filesystem;

fs::path model_dir(int seed) { return fs::path(QG_GUARD_FIXTURES) / ("tiny_s" + std::to_string(seed)); }
fs::path datasets() { return fs::path(QG_SHARED_DIR) / "qwen3guard/datasets"; }

struct Harness {
  kernels::Context ctx{1};
  std::unique_ptr<model::Qwen3Model> m;
  int feeds = 0;
  std::vector<runtime::Feed> log;

  void run(runtime::SequenceDriver& d) {
    model::KvCache cache = m->make_cache(2048);
    const int64_t vocab = m->config().vocab_size;
    runtime::Feed feed;
    try {
      while (d.next(feed) == runtime::Next::kFeed) {
        log.push_back(feed);
        const auto n = static_cast<int64_t>(feed.tokens.size());
        const int64_t rows = feed.vocab_rows.empty() ? vocab : static_cast<int64_t>(feed.vocab_rows.size());
        const int64_t first = feed.out_positions.empty() ? n : feed.out_positions.front();
        std::span<const int32_t> toks(feed.tokens);
        if (first > 0) m->forward(ctx, toks.first(first), cache, model::Logits::kNone, {});
        std::vector<float> block(static_cast<size_t>((n - first) * rows));
        std::vector<float> picked;
        if (first < n) m->forward(ctx, toks.subspan(first), cache, model::Logits::kAll, block, feed.vocab_rows);
        for (int32_t p : feed.out_positions)
          picked.insert(picked.end(), block.begin() + (p - first) * rows, block.begin() + (p - first + 1) * rows);
        runtime::FeedOutput out;
        out.logits = picked;
        d.consume(out);
        ++feeds;
        feed = runtime::Feed{};
      }
    } catch (...) {
      d.finish(std::current_exception());
      return;
    }
    d.finish(nullptr);
  }
};

TEST(GuardDriver, HarnessEqualsClassify) {
  ClassifierConfig cfg;
  cfg.model_dir = model_dir(3);
  auto clf = Classifier::load(cfg);
  Harness h;
  h.m = model::Qwen3Model::load(cfg.model_dir);
  const auto& tok = clf->tokenizer();
  const DecoderSetup setup{&clf->grammar(Mode::kPrompt), &clf->grammar(Mode::kResponse), &tok,
                           static_cast<int32_t>(h.m->config().vocab_size),
                           {*tok.token_to_id("<|im_end|>"), *tok.token_to_id("<|endoftext|>")}};
  std::vector<Conversation> convs;
  const auto x = load_dataset("xstest", datasets());
  const auto xr = load_dataset("xstest-response", datasets());
  for (size_t i = 0; i < 6; ++i) convs.push_back(x[i * 7]);
  for (size_t i = 0; i < 3; ++i) convs.push_back(xr[i * 11]);
  for (const auto& conv : convs) {
    for (DecodeMode mode : {DecodeMode::kFast, DecodeMode::kMaskedText, DecodeMode::kText}) {
      ClassifyOptions opt;
      opt.decode = mode;
      opt.trace = true;
      opt.max_new_tokens = 12;
      const Result want = clf->classify(conv, opt);
      const auto want_trace = clf->last_trace();
      const Classifier::Prepared p = clf->prepare(conv);
      DecodeOutcome got;
      int finished = 0;
      h.log.clear();
      GenDecoder dec(setup, p.mode, p.ids, opt, [&](DecodeOutcome&& o) {
        got = std::move(o);
        ++finished;
      });
      h.run(dec);
      ASSERT_EQ(finished, 1);
      ASSERT_FALSE(got.error);
      SCOPED_TRACE(std::string(decode_mode_name(mode)) + ": " + conv.back().content.substr(0, 50));
      EXPECT_EQ(got.result.output_ids, want.output_ids);
      EXPECT_EQ(got.result.raw_text, want.raw_text);
      EXPECT_EQ(got.result.verdict.safety, want.verdict.safety);
      EXPECT_EQ(got.result.verdict.categories, want.verdict.categories);
      for (int s = 0; s < kNumSafety; ++s) {
        EXPECT_NEAR(got.result.probs.safety[s], want.probs.safety[s], 1e-6);
        EXPECT_NEAR(got.result.probs.safety_renorm[s], want.probs.safety_renorm[s], 1e-6);
      }
      for (int c = 0; c < kNumCategories; ++c)
        EXPECT_NEAR(got.result.probs.category_score[c], want.probs.category_score[c], 1e-6);
      ASSERT_EQ(got.trace.size(), want_trace.size());
      for (size_t k = 0; k < got.trace.size(); ++k) {
        EXPECT_EQ(got.trace[k].position, want_trace[k].position);
        EXPECT_EQ(got.trace[k].chosen, want_trace[k].chosen);
        for (size_t j = 0; j < got.trace[k].logits.size(); ++j)
          EXPECT_NEAR(got.trace[k].logits[j], want_trace[k].logits[j], 1e-4);
      }
      // Protocol: the first feed is the prompt (+ forced tokens in fast mode); every
      // feed asks for logits at its last token only.
      ASSERT_FALSE(h.log.empty());
      EXPECT_TRUE(std::equal(p.ids.begin(), p.ids.end(), h.log[0].tokens.begin()));
      for (const auto& f : h.log) {
        ASSERT_EQ(f.out_positions.size(), 1u);
        EXPECT_EQ(f.out_positions[0], static_cast<int32_t>(f.tokens.size()) - 1);
        if (mode != DecodeMode::kFast) {
          EXPECT_EQ(f.tokens.size(), &f == &h.log[0] ? p.ids.size() : 1u);
        }
      }
      if (mode == DecodeMode::kFast) {
        // Decisions only: as many feeds as traced decisions, the root ones over the
        // full vocabulary (probabilities on), the others over the allowed rows.
        ASSERT_EQ(h.log.size(), want_trace.size());
        for (size_t k = 0; k < h.log.size(); ++k) {
          const DecisionKind kd = want_trace[k].kind;
          const bool root = kd == DecisionKind::kSafety || kd == DecisionKind::kCategoryFirst ||
                            kd == DecisionKind::kRefusal;
          EXPECT_EQ(h.log[k].vocab_rows.empty(), root);
          if (!root) {
            EXPECT_EQ(h.log[k].vocab_rows, want_trace[k].allowed);
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace qg::guard
