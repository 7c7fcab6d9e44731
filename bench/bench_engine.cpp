// bench_engine: throughput of runtime::Engine with 1 vs N sequences decoding together.
// Each sequence is a random prompt then greedy decoding (full-vocabulary logits at
// every step): with --parallel 1 the engine runs one sequence at a time; with
// --parallel N up to N share every forward (one pass over the weights per step for all
// their decode tokens). Prints wall and CPU time, sequences/s and decode tokens/s.
// A plain program (no Google Benchmark): whole-engine timings.
//
//   bench_engine --model DIR [--threads 2] [--seqs 16] [--prompt 32] [--decode 16]
//                [--parallel 1,16] [--kv-dtype f32|f16] [--shared-prefix 0] [--f16-error]
// --f16-error: instead, runs every prompt with f32 and with f16 KV and prints the relative
// L2 error of the f16 logits (at the last prompt position and after each decode step).
// Environment: QG_FORCE_ISA=scalar|avx2, QG_LOAD_MODE=map|read.
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "model/qwen3.h"
#include "runtime/engine.h"

namespace {

using Clock = std::chrono::steady_clock;

double cpu_seconds() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

class Greedy : public qg::runtime::SequenceDriver {
 public:
  Greedy(std::vector<int32_t> prompt, int n_new, std::promise<double>* done, Clock::time_point t0,
         std::vector<float>* keep = nullptr, std::vector<int32_t>* record = nullptr,
         const std::vector<int32_t>* force = nullptr)
      : prompt_(std::move(prompt)), n_new_(n_new), done_(done), t0_(t0), keep_(keep), record_(record),
        force_(force) {}
  qg::runtime::Next next(qg::runtime::Feed& f) override {
    if (produced_ == n_new_) return qg::runtime::Next::kDone;
    f.tokens = produced_ == 0 ? prompt_ : std::vector<int32_t>{last_};
    f.out_positions = {static_cast<int32_t>(f.tokens.size() - 1)};
    f.want_logits = true;
    return qg::runtime::Next::kFeed;
  }
  void consume(const qg::runtime::FeedOutput& out) override {
    last_ = static_cast<int32_t>(std::max_element(out.logits.begin(), out.logits.end()) - out.logits.begin());
    if (keep_) keep_->insert(keep_->end(), out.logits.begin(), out.logits.end());
    if (force_) last_ = (*force_)[static_cast<size_t>(produced_)];  // teacher-forced on the f32 tokens
    else if (record_) record_->push_back(last_);
    ++produced_;
  }
  void finish(std::exception_ptr err) noexcept override {
    if (err) {
      done_->set_exception(err);
    } else {
      done_->set_value(std::chrono::duration<double>(Clock::now() - t0_).count());
    }
  }

 private:
  std::vector<int32_t> prompt_;
  int n_new_;
  int produced_ = 0;
  int32_t last_ = 0;
  std::promise<double>* done_;
  Clock::time_point t0_;
  std::vector<float>* keep_;
  std::vector<int32_t>* record_;
  const std::vector<int32_t>* force_;
};

// Relative L2 error of f16-KV logits against f32-KV logits, teacher-forced on the f32 tokens.
int f16_error(const qg::model::Qwen3Model& model, const std::vector<std::vector<int32_t>>& prompts, int decode,
              int threads) {
  double worst = 0, sum = 0;
  int n = 0;
  for (const auto& p : prompts) {
    std::vector<float> l32, l16;
    std::vector<int32_t> toks;
    for (int pass = 0; pass < 2; ++pass) {
      qg::runtime::EngineConfig cfg;
      cfg.threads = threads;
      cfg.kv_dtype = pass == 0 ? qg::DType::kF32 : qg::DType::kF16;
      qg::runtime::Engine engine(model, cfg);
      std::promise<double> done;
      engine.submit(std::make_unique<Greedy>(p, decode, &done, Clock::now(), pass == 0 ? &l32 : &l16,
                                             pass == 0 ? &toks : nullptr, pass == 0 ? nullptr : &toks));
      done.get_future().get();
    }
    const size_t V = l32.size() / static_cast<size_t>(decode);
    for (int s = 0; s < decode; ++s) {
      double num = 0, den = 0;
      for (size_t k = 0; k < V; ++k) {
        const double a = l16[s * V + k], b = l32[s * V + k];
        num += (a - b) * (a - b);
        den += b * b;
      }
      const double e = std::sqrt(num / den);
      worst = std::max(worst, e);
      sum += e;
      ++n;
    }
  }
  std::printf("f16 KV vs f32 KV logits: relative L2 error mean %.3g, worst %.3g over %d positions\n", sum / n,
              worst, n);
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: bench_engine --model DIR [--threads N] [--seqs N] [--prompt N] [--decode N]\n"
               "                    [--parallel 1,16] [--kv-dtype f32|f16] [--shared-prefix N]\n");
  return 2;
}

int run(int argc, char** argv) {
  std::string dir, parallel = "1,16", kv = "f32";
  int threads = 2, seqs = 16, prompt = 32, decode = 16, shared = 0;
  bool f16err = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) throw qg::Error(a + ": missing value");
      return argv[++i];
    };
    if (a == "--model") dir = val();
    else if (a == "--threads") threads = std::stoi(val());
    else if (a == "--seqs") seqs = std::stoi(val());
    else if (a == "--prompt") prompt = std::stoi(val());
    else if (a == "--decode") decode = std::stoi(val());
    else if (a == "--parallel") parallel = val();
    else if (a == "--kv-dtype") kv = val();
    else if (a == "--shared-prefix") shared = std::stoi(val());
    else if (a == "--f16-error") f16err = true;
    else return usage();
  }
  if (dir.empty() || seqs < 1 || prompt < 1 || decode < 1 || shared < 0 || shared > prompt) return usage();
  auto model = qg::model::Qwen3Model::load(dir);
  const int64_t V = model->config().vocab_size;
  std::mt19937 rng(1);
  std::vector<int32_t> head(static_cast<size_t>(shared));
  for (auto& t : head) t = static_cast<int32_t>(rng() % V);
  std::vector<std::vector<int32_t>> prompts(static_cast<size_t>(seqs));
  for (auto& p : prompts) {
    p = head;
    while (static_cast<int>(p.size()) < prompt) p.push_back(static_cast<int32_t>(rng() % V));
  }
  if (f16err) return f16_error(*model, prompts, decode, threads);
  std::printf("model %s, %d threads, %d sequences x (%d prompt + %d decode) tokens, kv %s\n", dir.c_str(), threads,
              seqs, prompt, decode, kv.c_str());
  std::stringstream ps(parallel);
  std::string item;
  while (std::getline(ps, item, ',')) {
    qg::runtime::EngineConfig cfg;
    cfg.threads = threads;
    cfg.max_running = std::stoi(item);
    cfg.kv_dtype = kv == "f16" ? qg::DType::kF16 : qg::DType::kF32;
    cfg.prefix_cache = shared > 0;
    qg::runtime::Engine engine(*model, cfg);
    std::vector<std::promise<double>> done(prompts.size());
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    for (size_t i = 0; i < prompts.size(); ++i) {
      engine.submit(std::make_unique<Greedy>(prompts[i], decode, &done[i], t0));
    }
    std::vector<double> lat;
    for (auto& d : done) lat.push_back(d.get_future().get());
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    const double cpu = cpu_seconds() - c0;
    std::sort(lat.begin(), lat.end());
    const auto st = engine.stats();
    std::printf(
        "--parallel %-3s wall %7.2f s  cpu/threads %7.2f s  %6.3f seqs/s  %6.2f decode tokens/s  "
        "latency p50 %.2f s p99 %.2f s  steps %lld  prefix hits %lld\n",
        item.c_str(), wall, cpu / threads, seqs / wall, double(seqs) * (decode - 1) / wall,
        lat[lat.size() / 2], lat[std::min(lat.size() - 1, lat.size() * 99 / 100)], (long long)st.steps,
        (long long)st.prefix_hit_tokens);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_engine: error: %s\n", e.what());
    return 1;
  }
}
