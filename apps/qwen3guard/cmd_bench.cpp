// `qwen3guard bench`: moderations per second and latency percentiles of the guard
// pipeline on a realistic prompt set, in fast and text mode, plus how often the two
// modes agree. Inputs come from shared/qwen3guard/datasets (found via
// $QG_SHARED_DIR, ../shared or shared/ from the working directory, or beside the
// repository that holds the binary) or from a prompts file.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <future>
#include <mutex>
#include <random>
#include <thread>
#include <cstdio>
#include <filesystem>
#include <numeric>

#include <CLI/CLI.hpp>

#include "base/error.h"
#include "command.h"
#include "model_arg.h"
#include "guard/checkpoint.h"
#include "flags.h"
#include "guard/classifier.h"
#include "guard/inputs.h"
#include "model/qwen3.h"
#include "runtime/engine.h"

namespace qg::app {
namespace {

namespace fs = std::filesystem;

constexpr const char* kExamples = R"(
Examples:
  qwen3guard bench --model DIR                      # 100 XSTest prompts, fast and text mode
  qwen3guard bench --model DIR --dataset rtp-lx --n 300 --mode fast
  qwen3guard bench --model DIR --prompts my_prompts.txt --threads 8
  qwen3guard bench --model DIR --n 100 --mode fast --parallel 16
  qwen3guard bench --model DIR --n 0 --pp 512 --tg 128 --json   # llama-bench's pp512 / tg128 columns
Datasets: xstest (English prompts), xstest-response (prompt + completion: response moderation),
sst (SimpleSafetyTests), rtp-lx (26 languages). Latency is per moderation, end to end
(template, tokenizer, prefill, decode); the first --warmup moderations are not counted.
)";

fs::path datasets_dir(const std::string& flag) {
  if (!flag.empty()) return flag;
  std::vector<fs::path> tries;
  if (const char* env = std::getenv("QG_SHARED_DIR")) tries.push_back(fs::path(env) / "qwen3guard/datasets");
  tries.push_back("../shared/qwen3guard/datasets");
  tries.push_back("shared/qwen3guard/datasets");
  std::error_code ec;
  // build/<preset>/apps/qwen3guard/qwen3guard -> the repository -> its sibling shared/
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) tries.push_back(exe.parent_path() / "../../../../../shared/qwen3guard/datasets");
  for (const auto& p : tries) {
    if (fs::is_directory(p)) return fs::weakly_canonical(p);
  }
  fail("cannot find shared/qwen3guard/datasets (set QG_SHARED_DIR or pass --datasets-dir)");
}

// A path as a JSON string body (quotes, backslashes and control bytes escaped).
std::string json_escape(const std::string& s) {
  std::string out;
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += static_cast<char>(ch);
    } else if (ch < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", ch);
      out += buf;
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out;
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5));
  return v[i];
}

struct ModeRun {
  std::string mode;
  double mod_per_s = 0, p50 = 0, p90 = 0, p99 = 0, prefill_ms = 0, decode_ms = 0;
  double prompt_mean = 0, reused_mean = 0, generated_mean = 0;
  int64_t prompt_min = 0, prompt_max = 0;
  std::vector<std::optional<guard::Safety>> verdicts;
  std::vector<std::vector<guard::Category>> categories;
};

// `parallel` client threads take the next conversation and call classify() (which
// is thread-safe); latency is per call, end to end.
ModeRun bench_mode(guard::Classifier& clf, const std::vector<guard::Conversation>& convs, guard::DecodeMode m,
                   int warmup, int parallel) {
  guard::ClassifyOptions opt;
  opt.decode = m;
  for (int i = 0; i < warmup && i < static_cast<int>(convs.size()); ++i) clf.classify(convs[i], opt);
  const size_t n_conv = convs.size();
  std::vector<guard::Result> results(n_conv);
  std::vector<double> lat(n_conv);
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mu;
  auto client = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n_conv;) {
      const auto t = std::chrono::steady_clock::now();
      try {
        results[i] = clf.classify(convs[i], opt);
      } catch (...) {
        std::lock_guard lock(error_mu);
        if (!error) error = std::current_exception();
        next = n_conv;
        return;
      }
      lat[i] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
    }
  };
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  for (int c = 1; c < parallel; ++c) clients.emplace_back(client);
  client();
  for (auto& c : clients) c.join();
  if (error) std::rethrow_exception(error);
  const double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double n = static_cast<double>(n_conv);
  ModeRun run;
  run.mode = guard::decode_mode_name(m);
  run.mod_per_s = n / total_s;
  run.p50 = percentile(lat, 0.5);
  run.p90 = percentile(lat, 0.9);
  run.p99 = percentile(lat, 0.99);
  run.prompt_min = INT64_MAX;
  for (const auto& r : results) {
    run.prefill_ms += r.timings.prefill_ms / n;
    run.decode_ms += r.timings.decode_ms / n;
    run.prompt_mean += static_cast<double>(r.prompt_tokens) / n;
    run.reused_mean += static_cast<double>(r.reused_prefix_tokens) / n;
    run.generated_mean += static_cast<double>(r.generated_tokens) / n;
    run.prompt_min = std::min(run.prompt_min, r.prompt_tokens);
    run.prompt_max = std::max(run.prompt_max, r.prompt_tokens);
    run.verdicts.push_back(r.verdict.safety);
    run.categories.push_back(r.verdict.categories);
  }
  return run;
}

void print_mode(const ModeRun& r) {
  std::printf("%-11s %7.2f mod/s | latency ms p50 %7.1f p90 %7.1f p99 %7.1f | prefill %6.1f decode %6.1f ms | "
              "prompt tok mean %.0f (min %lld, max %lld, reused %.0f) | generated %.1f\n",
              r.mode.c_str(), r.mod_per_s, r.p50, r.p90, r.p99, r.prefill_ms, r.decode_ms, r.prompt_mean,
              static_cast<long long>(r.prompt_min), static_cast<long long>(r.prompt_max), r.reused_mean,
              r.generated_mean);
  std::fflush(stdout);
}

// llama-bench's two columns, through the engine like every moderation: pp = one
// sequence whose single feed is `pp` random tokens (tokens/s of that prefill), tg =
// one sequence of `tg` one-token feeds, each token the argmax of the previous
// logits (tokens/s). Full-vocabulary logits at the last token of each feed, as
// llama-bench computes them. Best of `reps` runs (the least disturbed).
class SpeedDriver final : public runtime::SequenceDriver {
 public:
  SpeedDriver(std::vector<int32_t> first, int more, int64_t vocab, std::promise<double>& seconds)
      : pending_(std::move(first)), more_(more), vocab_(vocab), seconds_(seconds) {}
  runtime::Next next(runtime::Feed& feed) override {
    if (pending_.empty()) return runtime::Next::kDone;
    if (!started_) t0_ = std::chrono::steady_clock::now(), started_ = true;
    feed.tokens = std::move(pending_);
    pending_.clear();
    feed.out_positions = {static_cast<int32_t>(feed.tokens.size() - 1)};
    feed.want_logits = true;
    return runtime::Next::kFeed;
  }
  void consume(const runtime::FeedOutput& out) override {
    const auto row = out.logits.first(static_cast<size_t>(vocab_));
    const auto best = static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
    if (more_-- > 0) pending_ = {best};
  }
  void finish(std::exception_ptr error) noexcept override {
    if (error) {
      seconds_.set_exception(error);
    } else {
      seconds_.set_value(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count());
    }
  }

 private:
  std::vector<int32_t> pending_;
  int more_;
  int64_t vocab_;
  std::promise<double>& seconds_;
  bool started_ = false;
  std::chrono::steady_clock::time_point t0_;
};

struct RawSpeed {
  double pp = 0, tg = 0;
};
RawSpeed raw_speed(guard::Classifier& clf, int pp, int tg, int reps) {
  runtime::Engine& engine = clf.engine();
  const int64_t vocab = engine.model().config().vocab_size;
  std::mt19937 rng(1234);
  // Random ordinary tokens (no two runs share a prefix, so the prefix cache never hits).
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(std::min<int64_t>(vocab, 100000) - 1));
  auto run = [&](int first, int more) {
    std::vector<int32_t> prompt(static_cast<size_t>(first));
    for (auto& t : prompt) t = tok(rng);
    std::promise<double> seconds;
    std::future<double> f = seconds.get_future();
    engine.submit(std::make_unique<SpeedDriver>(std::move(prompt), more, vocab, seconds));
    return f.get();
  };
  RawSpeed best;
  for (int r = 0; r < reps; ++r) {
    if (pp > 0) best.pp = std::max(best.pp, pp / run(pp, 0));
    if (tg > 0) best.tg = std::max(best.tg, tg / run(1, tg - 1));
  }
  return best;
}

std::string json_num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", std::isfinite(v) ? v : 0.0);
  return buf;
}

int run_bench(int argc, char** argv) {
  CLI::App app{"Measure moderation throughput and latency (fast and text mode).", "qwen3guard bench"};
  app.footer(kExamples);
  std::string model_dir, prompts, dataset = "xstest", mode = "both", dir;
  int n = 100, threads = 0, warmup = 3, parallel = 1, pp = 0, tg = 0, reps = 3;
  int64_t ctx = 0, kv_cache_mb = 0;
  std::string kv_dtype = "f32";
  bool no_prefix_reuse = false, json = false;
  app.add_option("--model", model_dir, "checkpoint folder or GGUF file")->required();
  std::string dtype;
  app.add_option("--dtype", dtype, "compute precision of the weights: bf16, q8_0 or f32 (default: as stored)")
      ->check(CLI::IsMember({"bf16", "q8_0", "f32"}));
  app.add_option("--prompts", prompts, "a prompts file: one prompt per line, or *.jsonl records as classify --input");
  app.add_option("--dataset", dataset, "a bundled dataset: " + guard::dataset_names() + " (default xstest)");
  app.add_option("--datasets-dir", dir, "where the datasets are (default: shared/qwen3guard/datasets)");
  app.add_option("--n", n, "moderations per mode (the first N inputs; default 100; 0: none, with --pp/--tg)")
      ->check(count_range(0, 1'000'000'000));
  app.add_option("--mode", mode, "fast, text, masked-text, both (fast and text; default) or all. On a random "
                                 "checkpoint text mode runs to the 128-token limit; masked-text then shows the "
                                 "cost text mode has on a real checkpoint, which writes the short format")
      ->check(CLI::IsMember({"fast", "text", "masked-text", "both", "all"}));
  app.add_option("--warmup", warmup, "uncounted moderations before timing each mode (default 3)")
      ->check(count_range(0, 1'000'000));
  app.add_option("--threads", threads, "compute threads (default: QG_THREADS or all cores)")->check(threads_range());
  app.add_option("--parallel", parallel, "moderations in flight at once (client threads; default 1)")
      ->check(CLI::Range(1, 1024));
  app.add_option("--kv-dtype", kv_dtype, "KV cache element type: f32 (default, exact) or f16 (half the memory)")
      ->check(CLI::IsMember({"f32", "f16"}));
  app.add_option("--kv-cache-mb", kv_cache_mb, "KV cache memory bound in MiB (default: the engine's)")
      ->check(count_range(0, int64_t{1} << 24));
  app.add_option("--ctx", ctx, "context size (default: the model's max_position_embeddings)")->check(ctx_range());
  app.add_flag("--no-prefix-reuse", no_prefix_reuse, "recompute the whole prompt for every moderation");
  app.add_option("--pp", pp, "also measure prefill speed: tokens/s of one forward over PP random tokens (key ppPP)")
      ->check(count_range(0, limits::kMaxPositions));
  app.add_option("--tg", tg, "also measure generation speed: tokens/s over TG one-token forwards (key tgTG)")
      ->check(count_range(0, limits::kMaxPositions));
  app.add_option("--reps", reps, "runs of --pp/--tg, the best is reported (default 3)")->check(CLI::Range(1, 100));
  app.add_flag("--json", json, "print one JSON object (moderation figures, ppPP/tgTG) instead of the table");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  model_dir = resolve_model_arg(model_dir);  // a hub id -> its cached snapshot
  if (!ctx_fits_model("qwen3guard bench", ctx, model_dir)) return kExitUsage;
  std::vector<guard::Conversation> convs;
  if (n != 0)
    convs = prompts.empty() ? guard::load_dataset(dataset, datasets_dir(dir)) : guard::load_prompts_file(prompts);
  if (n > 0 && static_cast<size_t>(n) < convs.size()) convs.resize(n);

  guard::ClassifierConfig cfg;
  cfg.model_dir = model_dir;
  cfg.threads = threads;
  cfg.ctx = ctx;
  cfg.reuse_prefix = !no_prefix_reuse;
  cfg.kv_dtype = guard::kv_dtype_from_name(kv_dtype);
  cfg.kv_cache_mb = kv_cache_mb;
  cfg.parallel = parallel;
  if (!dtype.empty()) cfg.dtype = guard::parse_compute_dtype(dtype);
  const auto t = std::chrono::steady_clock::now();
  auto clf = guard::Classifier::load(cfg);
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  if (!json)
    std::printf("model %s loaded in %.2f s; %zu moderations per mode (%s), prefix reuse %s, parallel %d\n",
                model_dir.c_str(), load_s, convs.size(), prompts.empty() ? dataset.c_str() : prompts.c_str(),
                no_prefix_reuse ? "off" : "on", parallel);
  std::vector<ModeRun> runs;
  std::optional<size_t> fast, text;
  if (!convs.empty()) {
    const bool several = mode == "both" || mode == "all";
    auto go = [&](guard::DecodeMode m) {
      const runtime::EngineStats before = clf->engine().stats();
      runs.push_back(bench_mode(*clf, convs, m, warmup, parallel));
      if (!json) {
        print_mode(runs.back());
        // How the engine batched them (warm-up included): tokens per forward step.
        const runtime::EngineStats after = clf->engine().stats();
        const auto steps = after.steps - before.steps;
        const auto pre = after.tokens_prefilled - before.tokens_prefilled;
        const auto dec = after.tokens_decoded - before.tokens_decoded;
        std::printf("            engine: %lld steps, %.1f tokens/step (prefilled %lld, decoded %lld, prefix hits %lld)\n",
                    static_cast<long long>(steps), steps > 0 ? static_cast<double>(pre + dec) / steps : 0.0,
                    static_cast<long long>(pre), static_cast<long long>(dec),
                    static_cast<long long>(after.prefix_hit_tokens - before.prefix_hit_tokens));
      }
      return runs.size() - 1;
    };
    if (mode == "fast" || several) fast = go(guard::DecodeMode::kFast);
    if (mode == "masked-text" || mode == "all") go(guard::DecodeMode::kMaskedText);
    if (mode == "text" || several) text = go(guard::DecodeMode::kText);
  }
  size_t same = 0;
  if (fast && text) {
    for (size_t i = 0; i < convs.size(); ++i)
      same += runs[*fast].verdicts[i] == runs[*text].verdicts[i] && runs[*fast].categories[i] == runs[*text].categories[i];
    if (!json) std::printf("fast and text agree on %zu/%zu verdicts (safety and categories)\n", same, convs.size());
  }
  RawSpeed speed;
  if (pp > 0 || tg > 0) {
    speed = raw_speed(*clf, pp, tg, reps);
    if (!json) {
      if (pp > 0) std::printf("pp%d %.1f tokens/s\n", pp, speed.pp);
      if (tg > 0) std::printf("tg%d %.1f tokens/s\n", tg, speed.tg);
    }
  }
  if (json) {
    std::string out = "{\"model\": \"" + json_escape(model_dir) + "\", \"threads\": " +
                      std::to_string(clf->threads()) + ", \"parallel\": " + std::to_string(parallel) +
                      ", \"load_s\": " + json_num(load_s);
    if (pp > 0) out += ", \"pp" + std::to_string(pp) + "\": " + json_num(speed.pp);
    if (tg > 0) out += ", \"tg" + std::to_string(tg) + "\": " + json_num(speed.tg);
    out += ", \"moderation\": {";
    for (size_t i = 0; i < runs.size(); ++i) {
      const ModeRun& r = runs[i];
      out += (i ? ", \"" : "\"") + r.mode + "\": {\"n\": " + std::to_string(convs.size()) +
             ", \"mod_per_s\": " + json_num(r.mod_per_s) + ", \"p50_ms\": " + json_num(r.p50) +
             ", \"p90_ms\": " + json_num(r.p90) + ", \"p99_ms\": " + json_num(r.p99) +
             ", \"prefill_ms\": " + json_num(r.prefill_ms) + ", \"decode_ms\": " + json_num(r.decode_ms) +
             ", \"prompt_tokens_mean\": " + json_num(r.prompt_mean) + ", \"reused_tokens_mean\": " +
             json_num(r.reused_mean) + ", \"generated_mean\": " + json_num(r.generated_mean) + "}";
    }
    out += "}";
    if (fast && text) out += ", \"fast_text_agree\": " + std::to_string(same);
    out += "}";
    std::printf("%s\n", out.c_str());
  }
  return kExitOk;
}

const Registrar kRegistrar({"bench", "moderations/s and latency percentiles, fast vs text mode", run_bench});

}  // namespace
}  // namespace qg::app
