// bench_model: end-to-end speed and memory of the model on one checkpoint — load
// time, prefill tokens/s for a long prompt, decode tokens/s for single-token steps,
// and peak RSS against the checkpoint size plus the KV cache actually written.
// A plain program (no Google Benchmark): the numbers are whole-model timings, each
// run a few times with the median reported. Run by tools/bench_forward.sh.
//
//   bench_model --model DIR [--threads 2] [--prompt 512] [--decode 64] [--reps 3]
// Environment: QG_FORCE_ISA=scalar|avx2 picks the kernel path.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "base/error.h"
#include "model/qwen3.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// User + system CPU time of the whole process (all threads). On a shared, loaded
// machine wall time measures the neighbours too; tokens per (CPU time / threads)
// estimates what the same run gives on otherwise idle cores.
double cpu_seconds() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

double peak_rss_mb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;  // ru_maxrss is in KiB on Linux
}

int usage() {
  std::fprintf(stderr,
               "usage: bench_model --model DIR|FILE.gguf [--dtype bf16|q8_0|f32] [--threads N] [--prompt N] [--decode N] [--reps N]\n"
               "  --dtype    re-encode the weights at load (default: as stored)\n"
               "  --threads  worker threads (default 2)\n"
               "  --prompt   prefill length in tokens (default 512)\n"
               "  --decode   tokens generated one at a time after the prompt (default 64)\n"
               "  --reps     repetitions of each measurement; the median is reported (default 3)\n");
  return 2;
}

int run(int argc, char** argv) {
  std::string dir;
  int threads = 2, prompt_len = 512, decode_len = 64, reps = 3;
  std::optional<qg::DType> dtype;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--model" && (v = next())) dir = v;
    else if (a == "--dtype" && (v = next())) {
      const std::string d = v;
      if (d == "bf16") dtype = qg::DType::kBF16;
      else if (d == "q8_0") dtype = qg::DType::kQ8_0;
      else if (d == "f32") dtype = qg::DType::kF32;
      else return usage();
    }
    else if (a == "--threads" && (v = next())) threads = std::atoi(v);
    else if (a == "--prompt" && (v = next())) prompt_len = std::atoi(v);
    else if (a == "--decode" && (v = next())) decode_len = std::atoi(v);
    else if (a == "--reps" && (v = next())) reps = std::max(1, std::atoi(v));
    else return usage();
  }
  if (dir.empty() || prompt_len < 1 || decode_len < 1) return usage();

  const double rss0 = peak_rss_mb();
  const auto t_load = Clock::now();
  qg::model::LoadOptions lopt;
  lopt.mode = qg::weights::load_mode_from_env_or(qg::weights::LoadMode::kMap);
  lopt.dtype = dtype;
  auto model = qg::model::Qwen3Model::load(dir, lopt);
  const double load_s = seconds_since(t_load);
  const double rss_after_load = peak_rss_mb();
  const auto& cfg = model->config();
  qg::kernels::Context ctx(threads);

  std::mt19937 rng(1234);
  std::vector<int32_t> prompt(static_cast<size_t>(prompt_len));
  for (auto& t : prompt) t = static_cast<int32_t>(rng() % std::min<int64_t>(cfg.vocab_size, 151643));
  const int64_t n_ctx = prompt_len + decode_len;
  qg::model::KvCache cache = model->make_cache(n_ctx);
  std::vector<float> logits(static_cast<size_t>(cfg.vocab_size));

  // First prefill: pages the weights in from the page cache / disk; reported apart.
  auto t = Clock::now();
  model->forward(ctx, prompt, cache, qg::model::Logits::kLast, logits);
  const double cold_prefill_s = seconds_since(t);

  std::vector<double> prefill, decode, prefill_cpu, decode_cpu;
  for (int r = 0; r < reps; ++r) {
    cache.clear();
    t = Clock::now();
    double c0 = cpu_seconds();
    model->forward(ctx, prompt, cache, qg::model::Logits::kLast, logits);
    prefill.push_back(seconds_since(t));
    prefill_cpu.push_back(cpu_seconds() - c0);
    c0 = cpu_seconds();
    // Decode: one token per call with full-vocabulary logits, as greedy generation does.
    t = Clock::now();
    int32_t next = 0;
    for (int i = 0; i < decode_len; ++i) {
      next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      model->forward(ctx, std::span<const int32_t>(&next, 1), cache, qg::model::Logits::kLast, logits);
    }
    decode.push_back(seconds_since(t));
    decode_cpu.push_back(cpu_seconds() - c0);
  }

  const double ckpt_mb = model->checkpoint_bytes() / 1048576.0;
  // KV cache memory actually written: n_ctx positions of K and V in every layer.
  const double kv_mb = 2.0 * cfg.num_hidden_layers * n_ctx * cfg.kv_dim() * sizeof(float) / 1048576.0;
  const double rss = peak_rss_mb();
  const double budget = 1.15 * ckpt_mb + kv_mb;
  std::printf("model            %s\n", dir.c_str());
  std::printf("shape            hidden %lld, layers %lld, heads %lld/%lld, head_dim %lld, vocab %lld\n",
              static_cast<long long>(cfg.hidden_size), static_cast<long long>(cfg.num_hidden_layers),
              static_cast<long long>(cfg.num_attention_heads), static_cast<long long>(cfg.num_key_value_heads),
              static_cast<long long>(cfg.head_dim), static_cast<long long>(cfg.vocab_size));
  std::printf("kernels          %s, %d threads\n", std::string(qg::kernels::isa_name(ctx.isa())).c_str(),
              ctx.n_threads());
  std::printf("checkpoint       %.1f MB\n", ckpt_mb);
  std::printf("load             %.3f s (peak RSS after load %.1f MB, at start %.1f MB)\n", load_s, rss_after_load,
              rss0);
  std::printf("prefill (cold)   %d tokens in %.3f s = %.1f tok/s\n", prompt_len, cold_prefill_s,
              prompt_len / cold_prefill_s);
  std::printf("prefill          %d tokens in %.3f s = %.1f tok/s (median of %d)\n", prompt_len, median(prefill),
              prompt_len / median(prefill), reps);
  std::printf("decode           %d tokens in %.3f s = %.2f tok/s (median of %d, after %d-token prompt)\n",
              decode_len, median(decode), decode_len / median(decode), reps, prompt_len);
  const int nt = ctx.n_threads();
  std::printf("cpu time         prefill %.3f s, decode %.3f s (all threads; idle-machine estimate: prefill %.1f tok/s, "
              "decode %.2f tok/s with %d threads)\n",
              median(prefill_cpu), median(decode_cpu), prompt_len / (median(prefill_cpu) / nt),
              decode_len / (median(decode_cpu) / nt), nt);
  std::printf("peak RSS         %.1f MB; budget 1.15 x checkpoint + KV cache (%.1f MB) = %.1f MB: %s\n", rss, kv_mb,
              budget, rss <= budget ? "ok" : "OVER");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const qg::Error& e) {
    std::fprintf(stderr, "bench_model: error: %s\n", e.what());
    return 1;
  }
}
