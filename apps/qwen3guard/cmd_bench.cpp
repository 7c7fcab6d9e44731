// `qwen3guard bench`: moderations per second and latency percentiles of the guard
// pipeline on a realistic prompt set, in fast and text mode, plus how often the two
// modes agree. Inputs come from shared/qwen3guard/datasets (found via
// $QG_SHARED_DIR, ../shared or shared/ from the working directory, or beside the
// repository that holds the binary) or from a prompts file.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <numeric>

#include <CLI/CLI.hpp>

#include "base/error.h"
#include "command.h"
#include "flags.h"
#include "guard/classifier.h"
#include "guard/inputs.h"

namespace qg::app {
namespace {

namespace fs = std::filesystem;

constexpr const char* kExamples = R"(
Examples:
  qwen3guard bench --model DIR                      # 100 XSTest prompts, fast and text mode
  qwen3guard bench --model DIR --dataset rtp-lx --n 300 --mode fast
  qwen3guard bench --model DIR --prompts my_prompts.txt --threads 8
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

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5));
  return v[i];
}

struct ModeRun {
  std::vector<std::optional<guard::Safety>> verdicts;
  std::vector<std::vector<guard::Category>> categories;
};

ModeRun bench_mode(guard::Classifier& clf, const std::vector<guard::Conversation>& convs, guard::DecodeMode m,
                   int warmup) {
  guard::ClassifyOptions opt;
  opt.decode = m;
  for (int i = 0; i < warmup && i < static_cast<int>(convs.size()); ++i) clf.classify(convs[i], opt);
  std::vector<double> lat, prefill, decode;
  std::vector<int64_t> ptoks, reused, gen;
  ModeRun run;
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& c : convs) {
    const auto t = std::chrono::steady_clock::now();
    const guard::Result r = clf.classify(c, opt);
    lat.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
    prefill.push_back(r.timings.prefill_ms);
    decode.push_back(r.timings.decode_ms);
    ptoks.push_back(r.prompt_tokens);
    reused.push_back(r.reused_prefix_tokens);
    gen.push_back(r.generated_tokens);
    run.verdicts.push_back(r.verdict.safety);
    run.categories.push_back(r.verdict.categories);
  }
  const double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double n = static_cast<double>(convs.size());
  auto mean = [&](const auto& v) { return std::accumulate(v.begin(), v.end(), 0.0) / n; };
  std::printf("%-11s %7.2f mod/s | latency ms p50 %7.1f p90 %7.1f p99 %7.1f | prefill %6.1f decode %6.1f ms | "
              "prompt tok mean %.0f (min %lld, max %lld, reused %.0f) | generated %.1f\n",
              std::string(guard::decode_mode_name(m)).c_str(), n / total_s, percentile(lat, 0.5),
              percentile(lat, 0.9), percentile(lat, 0.99), mean(prefill), mean(decode), mean(ptoks),
              static_cast<long long>(*std::min_element(ptoks.begin(), ptoks.end())),
              static_cast<long long>(*std::max_element(ptoks.begin(), ptoks.end())), mean(reused), mean(gen));
  std::fflush(stdout);
  return run;
}

int run_bench(int argc, char** argv) {
  CLI::App app{"Measure moderation throughput and latency (fast and text mode).", "qwen3guard bench"};
  app.footer(kExamples);
  std::string model_dir, prompts, dataset = "xstest", mode = "both", dir;
  int n = 100, threads = 0, warmup = 3;
  int64_t ctx = 0;
  bool no_prefix_reuse = false;
  app.add_option("--model", model_dir, "checkpoint folder")->required();
  app.add_option("--prompts", prompts, "a prompts file: one prompt per line, or *.jsonl records as classify --input");
  app.add_option("--dataset", dataset, "a bundled dataset: " + guard::dataset_names() + " (default xstest)");
  app.add_option("--datasets-dir", dir, "where the datasets are (default: shared/qwen3guard/datasets)");
  app.add_option("--n", n, "moderations per mode (the first N inputs; default 100)")
      ->check(count_range(1, 1'000'000'000));
  app.add_option("--mode", mode, "fast, text, masked-text, both (fast and text; default) or all. On a random "
                                 "checkpoint text mode runs to the 128-token limit; masked-text then shows the "
                                 "cost text mode has on a real checkpoint, which writes the short format")
      ->check(CLI::IsMember({"fast", "text", "masked-text", "both", "all"}));
  app.add_option("--warmup", warmup, "uncounted moderations before timing each mode (default 3)")
      ->check(count_range(0, 1'000'000));
  app.add_option("--threads", threads, "compute threads (default: QG_THREADS or all cores)")->check(threads_range());
  app.add_option("--ctx", ctx, "context size (default: the model's max_position_embeddings)")->check(ctx_range());
  app.add_flag("--no-prefix-reuse", no_prefix_reuse, "recompute the whole prompt for every moderation");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  if (!ctx_fits_model("qwen3guard bench", ctx, model_dir)) return kExitUsage;
  std::vector<guard::Conversation> convs =
      prompts.empty() ? guard::load_dataset(dataset, datasets_dir(dir)) : guard::load_prompts_file(prompts);
  if (n > 0 && static_cast<size_t>(n) < convs.size()) convs.resize(n);

  guard::ClassifierConfig cfg;
  cfg.model_dir = model_dir;
  cfg.threads = threads;
  cfg.ctx = ctx;
  cfg.reuse_prefix = !no_prefix_reuse;
  const auto t = std::chrono::steady_clock::now();
  auto clf = guard::Classifier::load(cfg);
  std::printf("model %s loaded in %.2f s; %zu moderations per mode (%s), prefix reuse %s\n", model_dir.c_str(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count(), convs.size(),
              prompts.empty() ? dataset.c_str() : prompts.c_str(), no_prefix_reuse ? "off" : "on");
  std::optional<ModeRun> fast, text;
  const bool several = mode == "both" || mode == "all";
  if (mode == "fast" || several) fast = bench_mode(*clf, convs, guard::DecodeMode::kFast, warmup);
  if (mode == "masked-text" || mode == "all") bench_mode(*clf, convs, guard::DecodeMode::kMaskedText, warmup);
  if (mode == "text" || several) text = bench_mode(*clf, convs, guard::DecodeMode::kText, warmup);
  if (fast && text) {
    size_t same = 0;
    for (size_t i = 0; i < convs.size(); ++i)
      same += fast->verdicts[i] == text->verdicts[i] && fast->categories[i] == text->categories[i];
    std::printf("fast and text agree on %zu/%zu verdicts (safety and categories)\n", same, convs.size());
  }
  return kExitOk;
}

const Registrar kRegistrar({"bench", "moderations/s and latency percentiles, fast vs text mode", run_bench});

}  // namespace
}  // namespace qg::app
