// Batch ≡ one by one, bitwise, on the engine (issue 8's proof), on a random tiny
// checkpoint: >= 300 conversations of mixed lengths, languages and modes (XSTest,
// SimpleSafetyTests, RTP-LX in 26 locales, XSTest responses; fast with and without
// probabilities, masked-text, short text mode) are moderated
//   - one by one: an engine running one sequence at a time, no prefix cache, a pool
//     far larger than any sequence;
//   - together: submitted from 4 threads in a random order to an engine running up
//     to 16 sequences, with the prefix cache on and a KV pool of a few sequences'
//     worth of blocks, so that sequences wait for blocks and cached blocks are evicted;
// and must agree bitwise: output ids, the logits at every decision, every
// probability, the verdict. Under the scalar and the AVX2 kernels (AVX2 skipped on a
// CPU without it). Also: cancel() through the Classifier ends a moderation with
// runtime::Cancelled.
#include <algorithm>
#include <cmath>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <future>
#include <set>
#include <mutex>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "guard/classifier.h"
#include "guard/gen_decoder.h"
#include "guard/inputs.h"
#include "kernels/kernels.h"
#include "model/qwen3.h"
#include "runtime/engine.h"
#include "tokenizer/tokenizer.h"

namespace qg::guard {
namespace {

namespace fs = std::filesystem;

fs::path model_dir(int seed) { return fs::path(QG_GUARD_FIXTURES) / ("tiny_s" + std::to_string(seed)); }
fs::path datasets() { return fs::path(QG_SHARED_DIR) / "qwen3guard/datasets"; }

std::vector<Conversation> many_conversations() {
  std::vector<Conversation> out;
  auto take = [&](std::vector<Conversation> v, size_t step, size_t n) {
    for (size_t i = 0; i < v.size() && n > 0; i += step, --n) out.push_back(std::move(v[i]));
  };
  take(load_dataset("xstest", datasets()), 4, 100);
  take(load_dataset("sst", datasets()), 3, 30);
  take(load_dataset("rtp-lx", datasets()), 17, 150);  // every locale
  take(load_dataset("xstest-response", datasets()), 19, 24);
  return out;
}

// Mostly fast mode (with and without probabilities); some masked-text and short
// text mode. Full-vocabulary rows dominate the cost of this test on the scalar path.
ClassifyOptions options_for(size_t i) {
  ClassifyOptions o;
  o.trace = true;
  const size_t m = i % 16;
  if (m == 5) {
    o.decode = DecodeMode::kMaskedText;
  } else if (m == 3 || m == 11) {
    o.decode = DecodeMode::kText;
    o.max_new_tokens = 4;
  } else if (m % 2 == 1) {
    o.probabilities = false;
  }
  return o;
}

// dev/kernels makes the AVX2 matmul batch-invariant (GEMV ≡ GEMM bitwise) in a later
// commit; until it is merged the AVX2 full-vocabulary logits of a batch differ from
// those of a sequence alone in the last bits, and AVX2 is held to 1e-5 relative plus
// identical choices. Flip to true with that merge.
constexpr bool kAvx2Bitwise = false;

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }
bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

bool close(double a, double b) { return std::abs(a - b) <= 1e-5 * std::max(1.0, std::abs(a)); }

void expect_bitwise(const DecodeOutcome& a, const DecodeOutcome& b, size_t i, bool bitwise) {
  const auto same = [&](auto x, auto y) { return bitwise ? same_bits(x, y) : close(x, y); };
  SCOPED_TRACE("conversation " + std::to_string(i));
  ASSERT_FALSE(a.error);
  ASSERT_FALSE(b.error);
  EXPECT_EQ(a.result.output_ids, b.result.output_ids);
  EXPECT_EQ(a.result.raw_text, b.result.raw_text);
  EXPECT_EQ(a.result.verdict.safety, b.result.verdict.safety);
  EXPECT_EQ(a.result.verdict.categories, b.result.verdict.categories);
  ASSERT_EQ(a.trace.size(), b.trace.size());
  for (size_t k = 0; k < a.trace.size(); ++k) {
    ASSERT_EQ(a.trace[k].logits.size(), b.trace[k].logits.size());
    for (size_t j = 0; j < a.trace[k].logits.size(); ++j)
      ASSERT_TRUE(same(a.trace[k].logits[j], b.trace[k].logits[j])) << "decision " << k << " row " << j;
  }
  const Probabilities &p = a.result.probs, &q = b.result.probs;
  for (int s = 0; s < kNumSafety; ++s) {
    EXPECT_TRUE(same(p.safety[s], q.safety[s]));
    EXPECT_TRUE(same(p.safety_renorm[s], q.safety_renorm[s]));
  }
  for (int c = 0; c <= kNumCategories; ++c) {
    EXPECT_TRUE(same(p.category[c], q.category[c]));
    EXPECT_TRUE(same(p.category_renorm[c], q.category_renorm[c]));
  }
  for (int c = 0; c < kNumCategories; ++c) {
    EXPECT_TRUE(same(p.category_chosen[c], q.category_chosen[c]));
    EXPECT_TRUE(same(p.category_score[c], q.category_score[c]));
  }
  for (int r = 0; r < kNumRefusal; ++r) EXPECT_TRUE(same(p.refusal_renorm[r], q.refusal_renorm[r]));
}

class GuardEngine : public ::testing::TestWithParam<std::string> {};

TEST_P(GuardEngine, BatchEqualsOneByOneBitwise) {
  const std::string isa = GetParam();
  if (isa == "avx2" && !kernels::isa_supported(kernels::Isa::kAvx2)) GTEST_SKIP() << "no AVX2 on this CPU";
  ClassifierConfig cc;
  cc.model_dir = model_dir(3);
  auto clf = Classifier::load(cc);  // for prepare() and the grammars
  const auto model = model::Qwen3Model::load(cc.model_dir);
  const auto& tok = clf->tokenizer();
  const DecoderSetup setup{&clf->grammar(Mode::kPrompt), &clf->grammar(Mode::kResponse), &tok,
                           static_cast<int32_t>(model->config().vocab_size),
                           {*tok.token_to_id("<|im_end|>"), *tok.token_to_id("<|endoftext|>")}};
  const auto convs = many_conversations();
  ASSERT_GE(convs.size(), 300u);
  std::vector<std::vector<int32_t>> ids(convs.size());
  std::vector<Mode> modes(convs.size());
  size_t longest = 0;
  for (size_t i = 0; i < convs.size(); ++i) {
    auto p = clf->prepare(convs[i]);
    ids[i] = std::move(p.ids);
    modes[i] = p.mode;
    longest = std::max(longest, ids[i].size());
  }
  // clf stays: setup points into its grammars and tokenizer (its engine idles).

  // One by one.
  std::vector<DecodeOutcome> alone(convs.size());
  {
    runtime::EngineConfig ec;
    ec.threads = 2;
    ec.isa = isa;
    ec.max_running = 1;
    ec.prefix_cache = false;
    runtime::Engine engine(*model, ec);
    for (size_t i = 0; i < convs.size(); ++i) {
      std::promise<DecodeOutcome> done;
      auto f = done.get_future();
      engine.submit(std::make_unique<GenDecoder>(setup, modes[i], ids[i], options_for(i),
                                                 [&done](DecodeOutcome&& o) { done.set_value(std::move(o)); }));
      alone[i] = f.get();
    }
  }

  // Together: 4 submitting threads, random order, a small pool.
  std::vector<DecodeOutcome> together(convs.size());
  runtime::EngineStats stats;
  {
    runtime::EngineConfig ec;
    ec.threads = 2;
    ec.isa = isa;
    ec.max_running = 16;
    ec.prefix_cache = true;
    ec.step_tokens = 256;
    // Room for about three of the longest sequences (+ their output): sequences wait
    // for blocks, and the cached policy-header blocks are evicted and recomputed.
    ec.kv_blocks = static_cast<int64_t>(3 * (longest + 64) / 16 + 3);
    runtime::Engine engine(*model, ec);
    std::vector<size_t> order(convs.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), std::mt19937(42));
    std::mutex mu;
    std::condition_variable cv;
    size_t finished = 0;
    std::vector<std::thread> clients;
    for (int t = 0; t < 4; ++t) {
      clients.emplace_back([&, t] {
        for (size_t k = static_cast<size_t>(t); k < order.size(); k += 4) {
          const size_t i = order[k];
          engine.submit(std::make_unique<GenDecoder>(setup, modes[i], ids[i], options_for(i),
                                                     [&, i](DecodeOutcome&& o) {
                                                       together[i] = std::move(o);
                                                       std::lock_guard lock(mu);
                                                       ++finished;
                                                       cv.notify_all();
                                                     }));
        }
      });
    }
    for (auto& c : clients) c.join();
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return finished == convs.size(); });
    stats = engine.stats();
  }
  const bool bitwise = isa == "scalar" || kAvx2Bitwise;
  for (size_t i = 0; i < convs.size(); ++i) expect_bitwise(alone[i], together[i], i, bitwise);
  EXPECT_GT(stats.prefix_hit_tokens, 0);
  EXPECT_GT(stats.evictions + stats.preemptions, 0) << "the pool should have been too small to keep everything";
  std::set<std::string> labels;
  for (const auto& o : alone) {
    if (o.result.verdict.safety) labels.insert(std::string(safety_name(*o.result.verdict.safety)));
  }
  EXPECT_EQ(labels.size(), 3u);
}

INSTANTIATE_TEST_SUITE_P(Isa, GuardEngine, ::testing::Values("scalar", "avx2"));

TEST(GuardEngineClassifier, CancelAndParallelClassify) {
  ClassifierConfig cc;
  cc.model_dir = model_dir(3);
  cc.parallel = 1;  // one at a time: the later submissions wait, and can be cancelled
  auto clf = Classifier::load(cc);
  ClassifyOptions text;
  text.decode = DecodeMode::kText;  // 128 tokens on a random checkpoint: slow enough
  std::mutex mu;
  std::vector<std::exception_ptr> errors(6);
  std::vector<bool> called(6, false);
  std::vector<Classifier::SeqId> ids;
  for (int i = 0; i < 6; ++i) {
    ids.push_back(clf->submit(prompt_conversation("question " + std::to_string(i)), text,
                              [&, i](Result&&, std::exception_ptr e) {
                                std::lock_guard lock(mu);
                                errors[i] = e;
                                called[i] = true;
                              }));
  }
  for (int i = 3; i < 6; ++i) clf->cancel(ids[i]);
  // classify() from several threads at once while those run: thread-safe, same results.
  const auto convs = load_dataset("xstest", datasets());
  std::vector<Result> par(8);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      for (int i = t; i < 8; i += 4) par[i] = clf->classify(convs[i], {});
    });
  for (auto& t : ts) t.join();
  for (int i = 0; i < 8; ++i) EXPECT_EQ(par[i].output_ids, clf->classify(convs[i], {}).output_ids);
  clf.reset();  // the destructor waits for (or cancels) what is left
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(called[i]) << i;
  for (int i = 3; i < 6; ++i) {
    ASSERT_TRUE(errors[i]) << i;
    EXPECT_THROW(std::rethrow_exception(errors[i]), runtime::Cancelled);
  }
}

}  // namespace
}  // namespace qg::guard
