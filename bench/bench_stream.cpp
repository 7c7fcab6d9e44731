// bench_stream: the per-token cost of a Qwen3Guard-Stream append (one incremental
// step of a session on the engine: backbone forward of one token over the session's
// KV, final norm, both head pairs, the verdict) from position 100 to 4,000, against one
// decode step of the same backbone at the same position (Qwen3Model::forward on a
// KvCache: without lm_head, and with the full-vocabulary lm_head of a Gen decode step).
//
//   bench_stream --model DIR [--threads 2] [--steps 16] [--positions 100,500,...,4000]
//
// At each position P the session and the baselines are advanced to P by one bulk
// prefill (not timed), then `steps` single-token steps of each are timed, interleaved
// (append, backbone step, decode step, append, ...), so a noisy neighbour slows all
// three alike. Reported per token: median wall time, and CPU time of the whole process
// divided by the threads (what the step costs on otherwise idle cores).
// DIR: tools/make_test_model.py --preset 0.6B --stream --out DIR (a random Stream-0.6B).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/error.h"
#include "chat/chat_template.h"
#include "guard/stream_session.h"
#include "kernels/kernels.h"
#include "model/qwen3.h"
#include "runtime/engine.h"
#include "tokenizer/tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;

double cpu_seconds() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct Timed {
  std::vector<double> wall_ms, cpu_ms;
  template <typename F>
  void run(F&& f) {
    const double c0 = cpu_seconds();
    const auto t0 = Clock::now();
    f();
    wall_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    cpu_ms.push_back((cpu_seconds() - c0) * 1e3);
  }
};

}  // namespace

int main(int argc, char** argv) {
  using namespace qg;
  std::string model_dir;
  int threads = 2, steps = 16;
  std::vector<int64_t> positions = {100, 250, 500, 1000, 1500, 2000, 2500, 3000, 3500, 4000};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--model") model_dir = val();
    else if (a == "--threads") threads = std::stoi(val());
    else if (a == "--steps") steps = std::stoi(val());
    else if (a == "--positions") {
      positions.clear();
      std::string s = val();
      for (size_t p = 0; p < s.size();) {
        size_t q = s.find(',', p);
        if (q == std::string::npos) q = s.size();
        positions.push_back(std::stoll(s.substr(p, q - p)));
        p = q + 1;
      }
    } else {
      std::fprintf(stderr, "usage: bench_stream --model DIR [--threads N] [--steps N] [--positions a,b,...]\n");
      return 2;
    }
  }
  if (model_dir.empty()) {
    std::fprintf(stderr, "usage: bench_stream --model DIR (a Stream checkpoint: make_test_model.py --stream)\n");
    return 2;
  }
  try {
    auto model = model::Qwen3Model::load(model_dir);
    auto tok = tok::Tokenizer::from_model_dir(model_dir);
    auto tpl = chat::ChatTemplate::from_model_dir(model_dir);
    const auto& c = model->config();
    const int64_t max_pos = positions.back() + steps + 8;
    runtime::EngineConfig ecfg;
    ecfg.threads = threads;
    runtime::Engine engine(*model, ecfg);
    guard::StreamConfig scfg;
    scfg.max_sessions = 1;
    scfg.idle_ttl_s = 0;
    guard::StreamModerator mod(engine, *tok, *tpl, scfg);
    kernels::Context ctx(threads);
    model::KvCache backbone = model->make_cache(max_pos);
    model::KvCache decode = model->make_cache(max_pos);
    std::vector<float> logits(static_cast<size_t>(c.vocab_size));
    std::mt19937 rng(1);
    std::uniform_int_distribution<int32_t> tid(0, 150000);

    std::printf("bench_stream: %s  H=%lld layers=%lld  threads=%d  isa=%s  %d timed steps per position\n",
                model_dir.c_str(), static_cast<long long>(c.hidden_size), static_cast<long long>(c.num_hidden_layers),
                threads, std::string(kernels::isa_name(ctx.isa())).c_str(), steps);
    const auto opened = mod.open({{"user", "How can I make a bomb?"}});
    // The session holds the prompt; the baselines start from the same ids.
    int64_t pos = opened.prompt.n_tokens;
    {
      std::vector<int32_t> prefix(static_cast<size_t>(pos));
      for (auto& t : prefix) t = tid(rng);
      model->forward(ctx, prefix, backbone, model::Logits::kNone, {});
      model->forward(ctx, prefix, decode, model::Logits::kNone, {});
    }
    std::printf("%8s  %12s %12s  %12s %12s  %12s %12s  %9s %9s\n", "position", "append ms", "(cpu ms)",
                "backbone ms", "(cpu ms)", "decode ms", "(cpu ms)", "app/bb", "app/dec");
    for (int64_t P : positions) {
      if (P > pos) {  // advance everything to P with one bulk step (not timed)
        std::vector<int32_t> bulk(static_cast<size_t>(P - pos));
        for (auto& t : bulk) t = tid(rng);
        mod.append_ids(opened.id, bulk);
        model->forward(ctx, bulk, backbone, model::Logits::kNone, {});
        model->forward(ctx, bulk, decode, model::Logits::kNone, {});
        pos = P;
      }
      Timed app, bb, dec;
      for (int s = 0; s < steps; ++s) {
        const int32_t one[1] = {tid(rng)};
        app.run([&] { mod.append_ids(opened.id, one); });
        bb.run([&] { model->forward(ctx, one, backbone, model::Logits::kNone, {}); });
        dec.run([&] { model->forward(ctx, one, decode, model::Logits::kLast, logits); });
      }
      pos += steps;
      const double a = median(app.wall_ms), b = median(bb.wall_ms), d = median(dec.wall_ms);
      std::printf("%8lld  %12.2f %12.2f  %12.2f %12.2f  %12.2f %12.2f  %9.3f %9.3f\n", static_cast<long long>(P), a,
                  median(app.cpu_ms) / threads, b, median(bb.cpu_ms) / threads, d, median(dec.cpu_ms) / threads,
                  a / b, a / d);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_stream: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
