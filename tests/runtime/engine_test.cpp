// runtime::Engine end to end on tiny random checkpoints written by the test:
//  - many threads submit random greedy sequences (shared prefixes, mixed lengths) into
//    an engine with a small pool, so that prefix hits, eviction, waiting for blocks and
//    preemption all happen; every token and every logit is bitwise equal to the
//    sequence decoded alone through the single-sequence API (an independent path);
//  - the prefix cache: hits on full and partial blocks, copy-on-write of a shared
//    partial block, cached_tokens reported;
//  - failures stay local: a bad token id, a throwing driver, a request that can never
//    fit (its error names both numbers) end only their own sequence;
//  - cancellation of parked and running sequences frees their blocks; wake resumes;
//  - f16 KV stays close to the f32 reference (the error is printed);
//  - 10,000 short requests leave the resident memory flat.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <random>
#include <thread>

#include "model/qwen3.h"
#include "runtime/engine.h"
#include "testutil/checkpoint_writer.h"

namespace qg::runtime {
namespace {

// Until dev/kernels' batch-invariant AVX2 matmul is merged, AVX2 cannot be bitwise.
constexpr bool kAvx2MatmulBatchInvariant = true;  // dev/kernels merged

template <typename F>
void wait_until(F&& cond) {
  for (int i = 0; i < 5000 && !cond(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(cond());
}

struct Result {
  std::vector<int32_t> tokens;
  std::vector<float> logits;   // [tokens.size(), V]
  int64_t first_cached = -1;   // cached_tokens of the first feed
  std::exception_ptr err;
};

// Greedy decoding of n_new tokens after a prompt; the simplest SequenceDriver.
class GreedyDriver : public SequenceDriver {
 public:
  GreedyDriver(std::vector<int32_t> prompt, int n_new, int64_t vocab, std::promise<Result>* done,
               std::function<void(Feed&)> tamper = {})
      : prompt_(std::move(prompt)), n_new_(n_new), V_(vocab), done_(done), tamper_(std::move(tamper)) {}
  Next next(Feed& feed) override {
    if (static_cast<int>(r_.tokens.size()) == n_new_) return Next::kDone;
    feed.tokens = r_.tokens.empty() ? prompt_ : std::vector<int32_t>{r_.tokens.back()};
    feed.out_positions = {static_cast<int32_t>(feed.tokens.size() - 1)};
    feed.want_logits = true;
    if (tamper_) tamper_(feed);
    return Next::kFeed;
  }
  void consume(const FeedOutput& out) override {
    if (r_.first_cached < 0) r_.first_cached = out.cached_tokens;
    const auto best = std::max_element(out.logits.begin(), out.logits.end()) - out.logits.begin();
    r_.tokens.push_back(static_cast<int32_t>(best));
    r_.logits.insert(r_.logits.end(), out.logits.begin(), out.logits.end());
  }
  void finish(std::exception_ptr err) noexcept override {
    r_.err = err;
    done_->set_value(std::move(r_));
  }

 private:
  std::vector<int32_t> prompt_;
  int n_new_;
  int64_t V_;
  std::promise<Result>* done_;
  std::function<void(Feed&)> tamper_;
  Result r_;
};

class EngineTest : public ::testing::TestWithParam<const char*> {
 protected:
  static void SetUpTestSuite() {
    dir_ = testutil::temp_dir("engine");
    testutil::TinyShape sh;
    sh.hidden = 32, sh.heads = 4, sh.kv_heads = 2, sh.head_dim = 8, sh.intermediate = 48;
    sh.layers = 2, sh.vocab = 97, sh.dtype = "BF16";
    testutil::write_checkpoint(dir_, sh);
    model_ = model::Qwen3Model::load(dir_).release();
  }
  static void TearDownTestSuite() {
    delete model_;
    std::filesystem::remove_all(dir_);
  }
  void SetUp() override {
    const std::string isa = GetParam();
    if (isa == "avx2" && (!kernels::isa_supported(kernels::Isa::kAvx2) || !kAvx2MatmulBatchInvariant)) {
      GTEST_SKIP() << "AVX2 not available or its matmul not batch-invariant yet";
    }
    ctx_ = std::make_unique<kernels::Context>(2, kernels::parse_isa(isa));
  }
  EngineConfig config(int64_t blocks, int running = 16) const {
    EngineConfig c;
    c.threads = 2;
    c.isa = GetParam();
    c.kv_blocks = blocks;
    c.max_running = running;
    return c;
  }
  int64_t V() const { return model_->config().vocab_size; }

  // The oracle: the same greedy decoding through the single-sequence API.
  Result alone(const std::vector<int32_t>& prompt, int n_new) const {
    Result r;
    model::KvCache cache = model_->make_cache(static_cast<int64_t>(prompt.size()) + n_new);
    std::vector<float> row(static_cast<size_t>(V()));
    std::vector<int32_t> feed = prompt;
    for (int i = 0; i < n_new; ++i) {
      model_->forward(*ctx_, feed, cache, model::Logits::kLast, row);
      const auto best = static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
      r.tokens.push_back(best);
      r.logits.insert(r.logits.end(), row.begin(), row.end());
      feed = {best};
    }
    return r;
  }
  void expect_same(const Result& got, const Result& want, const std::string& what) const {
    ASSERT_FALSE(got.err) << what;
    ASSERT_EQ(got.tokens, want.tokens) << what;
    ASSERT_EQ(got.logits.size(), want.logits.size()) << what;
    ASSERT_EQ(0, std::memcmp(got.logits.data(), want.logits.data(), got.logits.size() * 4)) << what;
  }
  static std::string error_of(const Result& r) {
    try {
      if (r.err) std::rethrow_exception(r.err);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  }

  static inline std::filesystem::path dir_;
  static inline model::Qwen3Model* model_ = nullptr;
  std::unique_ptr<kernels::Context> ctx_;
};

TEST_P(EngineTest, ManyThreadsSmallPoolBitwiseEqualToAlone) {
  constexpr int kThreads = 4, kPerThread = 12;
  std::mt19937 rng(11);
  std::vector<int32_t> base(48);
  for (auto& t : base) t = static_cast<int32_t>(rng() % V());
  struct Job {
    std::vector<int32_t> prompt;
    int n_new;
    std::promise<Result> done;
  };
  std::vector<Job> jobs(kThreads * kPerThread);
  for (auto& j : jobs) {
    const auto shared = static_cast<size_t>(rng() % 49);
    j.prompt.assign(base.begin(), base.begin() + static_cast<int64_t>(shared));
    for (uint32_t i = 0, extra = 1 + rng() % 24; i < extra; ++i) j.prompt.push_back(static_cast<int32_t>(rng() % V()));
    j.n_new = 1 + static_cast<int>(rng() % 8);
  }
  // 14 blocks of 16 positions: a few sequences at a time, while 16 may run.
  Engine engine(*model_, config(14));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 r(static_cast<uint32_t>(t));
      for (int i = 0; i < kPerThread; ++i) {
        Job& j = jobs[static_cast<size_t>(t * kPerThread + i)];
        engine.submit(std::make_unique<GreedyDriver>(j.prompt, j.n_new, V(), &j.done));
        if (r() % 2) std::this_thread::sleep_for(std::chrono::microseconds(r() % 2000));
      }
    });
  }
  for (auto& th : threads) th.join();
  for (size_t i = 0; i < jobs.size(); ++i) {
    const Result got = jobs[i].done.get_future().get();
    expect_same(got, alone(jobs[i].prompt, jobs[i].n_new), "job " + std::to_string(i));
  }
  wait_until([&] { return engine.stats().finished == static_cast<int64_t>(jobs.size()); });
  const EngineStats s = engine.stats();
  EXPECT_GT(s.prefix_hit_tokens, 0);
  EXPECT_GT(s.evictions, 0);
  EXPECT_GT(s.preemptions + s.steps, 0);
  EXPECT_LE(s.kv_blocks_used, 14);
  std::printf("[ stats ] steps %lld, prefix hits %lld tokens, evictions %lld, preemptions %lld, cow %lld\n",
              (long long)s.steps, (long long)s.prefix_hit_tokens, (long long)s.evictions,
              (long long)s.preemptions, (long long)s.cow_copies);
}

TEST_P(EngineTest, WaitsForBlocksWhenThePoolIsFull) {
  // Each sequence needs 4 of the 8 blocks: at most two at a time, the rest wait.
  Engine engine(*model_, config(8));
  std::mt19937 rng(2);
  std::vector<std::vector<int32_t>> prompts(5);
  std::vector<std::promise<Result>> done(5);
  for (size_t i = 0; i < prompts.size(); ++i) {
    for (int k = 0; k < 56; ++k) prompts[i].push_back(static_cast<int32_t>(rng() % V()));
    engine.submit(std::make_unique<GreedyDriver>(prompts[i], 6, V(), &done[i]));
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    expect_same(done[i].get_future().get(), alone(prompts[i], 6), "sequence " + std::to_string(i));
  }
  wait_until([&] { return engine.stats().finished == 5; });
}

// Holds the engine thread inside its first next() until released, so that sequences
// submitted meanwhile all enter the scheduler in the same step.
class GateDriver : public SequenceDriver {
 public:
  explicit GateDriver(std::shared_future<void> open) : open_(std::move(open)) {}
  Next next(Feed&) override {
    entered = true;
    open_.wait();
    return Next::kDone;
  }
  void consume(const FeedOutput&) override {}
  void finish(std::exception_ptr) noexcept override {}
  static inline std::atomic<bool> entered{false};

 private:
  std::shared_future<void> open_;
};

TEST_P(EngineTest, PreemptsWhenEverySequenceNeedsABlock) {
  // Four 20-token prompts take all 8 blocks (2 each); decoding past position 32 needs a
  // third block that nobody has: the youngest is preempted and recomputed later.
  Engine engine(*model_, config(8));
  std::mt19937 rng(6);
  std::vector<std::vector<int32_t>> prompts(4);
  std::vector<std::promise<Result>> done(4);
  for (size_t i = 0; i < prompts.size(); ++i) {
    for (int k = 0; k < 20; ++k) prompts[i].push_back(static_cast<int32_t>(rng() % V()));
  }
  std::promise<void> gate;
  GateDriver::entered = false;
  engine.submit(std::make_unique<GateDriver>(gate.get_future().share()));
  wait_until([] { return GateDriver::entered.load(); });
  for (size_t i = 0; i < prompts.size(); ++i) {
    engine.submit(std::make_unique<GreedyDriver>(prompts[i], 30, V(), &done[i]));
  }
  gate.set_value();
  for (size_t i = 0; i < prompts.size(); ++i) {
    expect_same(done[i].get_future().get(), alone(prompts[i], 30), "sequence " + std::to_string(i));
  }
  EXPECT_GT(engine.stats().preemptions, 0);
}

TEST_P(EngineTest, PrefixCacheFullAndPartialHitsAndCopyOnWrite) {
  Engine engine(*model_, config(64));
  std::mt19937 rng(4);
  std::vector<int32_t> p(20);
  for (auto& t : p) t = static_cast<int32_t>(rng() % V());
  auto run = [&](std::vector<std::vector<int32_t>> prompts) {
    std::promise<void> gate;
    GateDriver::entered = false;
    engine.submit(std::make_unique<GateDriver>(gate.get_future().share()));
    wait_until([] { return GateDriver::entered.load(); });
    std::vector<std::promise<Result>> done(prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) {
      engine.submit(std::make_unique<GreedyDriver>(prompts[i], 1, V(), &done[i]));
    }
    gate.set_value();
    std::vector<Result> out;
    for (size_t i = 0; i < prompts.size(); ++i) {
      out.push_back(done[i].get_future().get());
      expect_same(out.back(), alone(prompts[i], 1), "prompt " + std::to_string(i));
    }
    return out;
  };
  // First run: nothing cached. It leaves block 0 (full) and a 4-token tail in the cache.
  EXPECT_EQ(run({p})[0].first_cached, 0);
  // Two requests extending p, entering together: both hit the full block and the
  // partial tail (20 tokens); the first writer copies the shared tail, the second takes it.
  auto a = p, b = p;
  a.insert(a.end(), {1, 2, 3});
  b.insert(b.end(), {4, 5, 6, 7, 8});
  const EngineStats before = engine.stats();
  const auto r = run({a, b});
  EXPECT_EQ(r[0].first_cached, 20);
  EXPECT_EQ(r[1].first_cached, 20);
  EXPECT_EQ(engine.stats().cow_copies, before.cow_copies + 1);
  // The same prompt again: everything but its last token (whose logits are wanted).
  EXPECT_EQ(run({a})[0].first_cached, static_cast<int64_t>(a.size()) - 1);
}

// One feed with outputs at chosen positions: vocab-row logits and hidden states.
class ProbeDriver : public SequenceDriver {
 public:
  ProbeDriver(Feed f, std::promise<std::pair<std::vector<float>, std::vector<float>>>* done)
      : feed_(std::move(f)), done_(done) {}
  Next next(Feed& feed) override {
    if (fed_) return Next::kDone;
    fed_ = true;
    feed = feed_;
    return Next::kFeed;
  }
  void consume(const FeedOutput& out) override {
    logits_.assign(out.logits.begin(), out.logits.end());
    hidden_.assign(out.hidden.begin(), out.hidden.end());
  }
  void finish(std::exception_ptr) noexcept override { done_->set_value({logits_, hidden_}); }

 private:
  Feed feed_;
  bool fed_ = false;
  std::vector<float> logits_, hidden_;
  std::promise<std::pair<std::vector<float>, std::vector<float>>>* done_;
};

TEST_P(EngineTest, VocabRowsAndHiddenAreTheSameUnderAnyChunking) {
  std::mt19937 rng(8);
  Feed f;
  for (int i = 0; i < 37; ++i) f.tokens.push_back(static_cast<int32_t>(rng() % V()));
  f.out_positions = {0, 5, 6, 20, 36};
  f.want_logits = f.want_hidden = true;
  f.vocab_rows = {3, 96, 0, 41};
  // The oracle for the logits: all-position full-vocabulary logits of the single-sequence API.
  model::KvCache cache = model_->make_cache(37);
  std::vector<float> all(static_cast<size_t>(37 * V()));
  model_->forward(*ctx_, f.tokens, cache, model::Logits::kAll, all);
  std::vector<float> first_hidden;
  for (int64_t step_tokens : {512, 7, 1}) {
    EngineConfig c = config(16);
    c.step_tokens = step_tokens;  // the feed runs in chunks; outputs land in several steps
    Engine engine(*model_, c);
    std::promise<std::pair<std::vector<float>, std::vector<float>>> done;
    engine.submit(std::make_unique<ProbeDriver>(f, &done));
    const auto [logits, hidden] = done.get_future().get();
    ASSERT_EQ(logits.size(), f.out_positions.size() * f.vocab_rows.size());
    ASSERT_EQ(hidden.size(), f.out_positions.size() * model_->config().hidden_size);
    for (size_t j = 0; j < f.out_positions.size(); ++j) {
      for (size_t r = 0; r < f.vocab_rows.size(); ++r) {
        const float want = all[f.out_positions[j] * V() + f.vocab_rows[r]];
        EXPECT_EQ(0, std::memcmp(&logits[j * f.vocab_rows.size() + r], &want, 4))
            << "step_tokens " << step_tokens << " position " << f.out_positions[j] << " row " << f.vocab_rows[r];
      }
    }
    if (first_hidden.empty()) first_hidden = hidden;
    EXPECT_EQ(0, std::memcmp(hidden.data(), first_hidden.data(), hidden.size() * 4)) << "step_tokens " << step_tokens;
  }
}

TEST_P(EngineTest, FailuresEndOnlyTheirOwnSequence) {
  Engine engine(*model_, config(4));  // 64 positions
  std::vector<int32_t> good = {1, 2, 3, 4, 5};
  std::promise<Result> ok1, bad_id, throws, too_long, ok2;
  engine.submit(std::make_unique<GreedyDriver>(good, 5, V(), &ok1));
  engine.submit(std::make_unique<GreedyDriver>(good, 5, V(), &bad_id, [&](Feed& f) { f.tokens[1] = 97; }));
  engine.submit(std::make_unique<GreedyDriver>(good, 5, V(), &throws, [&](Feed& f) {
    if (f.tokens.size() == 1) throw std::runtime_error("driver exploded");
  }));
  engine.submit(std::make_unique<GreedyDriver>(std::vector<int32_t>(100, 3), 1, V(), &too_long));
  engine.submit(std::make_unique<GreedyDriver>(good, 3, V(), &ok2));
  expect_same(ok1.get_future().get(), alone(good, 5), "ok1");
  const std::string e1 = error_of(bad_id.get_future().get());
  EXPECT_NE(e1.find("token id 97"), std::string::npos) << e1;
  EXPECT_EQ(error_of(throws.get_future().get()), "driver exploded");
  const std::string e3 = error_of(too_long.get_future().get());
  EXPECT_NE(e3.find("100 positions"), std::string::npos) << e3;
  EXPECT_NE(e3.find("holds 4 blocks (64 positions"), std::string::npos) << e3;
  expect_same(ok2.get_future().get(), alone(good, 3), "ok2");
  EXPECT_EQ(engine.max_sequence_tokens(), 64);
}

// Feeds a prompt, then parks until woken, then finishes; or decodes forever.
class ParkingDriver : public SequenceDriver {
 public:
  ParkingDriver(bool forever, std::promise<std::exception_ptr>* done) : forever_(forever), done_(done) {}
  Next next(Feed& feed) override {
    ++polls;
    if (!fed_ || forever_) {
      fed_ = true;
      feed.tokens = std::vector<int32_t>(forever_ ? 1 : 40, 7);
      feed.out_positions = {0};
      feed.want_logits = true;
      feed.vocab_rows = {1, 2};
      return Next::kFeed;
    }
    return woken.load() ? Next::kDone : Next::kWait;
  }
  void consume(const FeedOutput&) override {
    if (forever_) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // stays running for a while
  }
  void finish(std::exception_ptr err) noexcept override { done_->set_value(err); }
  std::atomic<bool> woken{false};
  std::atomic<int> polls{0};

 private:
  bool forever_;
  bool fed_ = false;
  std::promise<std::exception_ptr>* done_;
};

TEST_P(EngineTest, CancelFreesBlocksAndWakeResumes) {
  Engine engine(*model_, config(64));
  std::promise<std::exception_ptr> p1, p2, p3;
  auto d1 = std::make_unique<ParkingDriver>(false, &p1);
  auto d2 = std::make_unique<ParkingDriver>(false, &p2);
  auto d3 = std::make_unique<ParkingDriver>(true, &p3);
  ParkingDriver* w2 = d2.get();
  ParkingDriver* w3 = d3.get();
  const auto id1 = engine.submit(std::move(d1));
  const auto id2 = engine.submit(std::move(d2));
  const auto id3 = engine.submit(std::move(d3));
  wait_until([&] { return engine.stats().parked == 2 && w3->polls.load() > 20; });
  EXPECT_GT(engine.stats().kv_blocks_used, 6) << "parked sequences keep their blocks";
  engine.cancel(id1);
  engine.cancel(id3);  // a running one
  EXPECT_THROW(std::rethrow_exception(p1.get_future().get()), Cancelled);
  EXPECT_THROW(std::rethrow_exception(p3.get_future().get()), Cancelled);
  w2->woken = true;
  engine.wake(id2);
  EXPECT_EQ(p2.get_future().get(), nullptr);
  engine.cancel(id2);  // finished already: a no-op
  wait_until([&] { return engine.stats().running == 0 && engine.stats().finished == 1; });
  const EngineStats s = engine.stats();
  EXPECT_EQ(s.kv_blocks_used, 0);
  EXPECT_GT(s.kv_blocks_cached, 0) << "their full blocks stay reusable";
  EXPECT_EQ(s.failed, 2);
  EXPECT_EQ(s.finished, 1);
}

TEST_P(EngineTest, DestructorCancelsWhatIsLeft) {
  std::promise<std::exception_ptr> p;
  {
    Engine engine(*model_, config(16));
    engine.submit(std::make_unique<ParkingDriver>(false, &p));
    wait_until([&] { return engine.stats().parked == 1; });
  }
  EXPECT_THROW(std::rethrow_exception(p.get_future().get()), Cancelled);
}

TEST_P(EngineTest, F16KvIsCloseToTheF32Reference) {
  EngineConfig c = config(64);
  c.kv_dtype = DType::kF16;
  Engine engine(*model_, c);
  std::mt19937 rng(9);
  double worst = 0;
  for (int i = 0; i < 4; ++i) {
    std::vector<int32_t> prompt(30 + i * 7);
    for (auto& t : prompt) t = static_cast<int32_t>(rng() % V());
    std::promise<Result> done;
    const Result want = alone(prompt, 1);
    engine.submit(std::make_unique<GreedyDriver>(prompt, 1, V(), &done));
    const Result got = done.get_future().get();
    ASSERT_FALSE(got.err);
    double num = 0, den = 0;
    for (int64_t k = 0; k < V(); ++k) {
      num += std::pow(double(got.logits[k]) - want.logits[k], 2);
      den += std::pow(double(want.logits[k]), 2);
    }
    worst = std::max(worst, std::sqrt(num / den));
  }
  std::printf("[ f16 KV ] worst relative L2 logit error vs f32: %.3g\n", worst);
  EXPECT_LT(worst, 1e-2);
  EXPECT_GT(worst, 0.0) << "f16 rounding should be visible";
}

int64_t resident_kb() {
  std::ifstream f("/proc/self/statm");
  int64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

TEST_P(EngineTest, TenThousandShortRequestsLeaveResidentMemoryFlat) {
  Engine engine(*model_, config(64));
  std::mt19937 rng(1);
  auto wave = [&](int n) {
    std::vector<std::promise<Result>> done(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      std::vector<int32_t> prompt = {static_cast<int32_t>(rng() % V()), static_cast<int32_t>(rng() % V()),
                                     static_cast<int32_t>(rng() % V())};
      engine.submit(std::make_unique<GreedyDriver>(prompt, 1, V(), &done[static_cast<size_t>(i)]));
    }
    for (auto& d : done) ASSERT_FALSE(d.get_future().get().err);
  };
  for (int i = 0; i < 2; ++i) wave(1000);  // warm-up: the pool, the index, the queues reach size
  const int64_t before = resident_kb();
  for (int i = 0; i < 8; ++i) wave(1000);
  const int64_t after = resident_kb();
  std::printf("[ rss ] after 2000 requests %lld kB, after 10000 %lld kB\n", (long long)before, (long long)after);
#if defined(__SANITIZE_ADDRESS__)
  // ASan's quarantine keeps freed memory resident by design: only the release build measures.
  (void)before, (void)after;
#else
  EXPECT_LT(after - before, 2048) << "resident memory grew by " << after - before << " kB";
#endif
  wait_until([&] { return engine.stats().finished == 10000; });  // stats are published after each step
}

INSTANTIATE_TEST_SUITE_P(Isas, EngineTest, ::testing::Values("scalar", "avx2"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace qg::runtime
