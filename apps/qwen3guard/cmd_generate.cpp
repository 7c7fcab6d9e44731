// `qwen3guard generate`: greedy continuation of a list of token ids, printed as ids.
// Stops at the checkpoint's eos ids (generation_config.json, else config.json) or
// after --max-new-tokens. Text in and out comes with the tokenizer (`classify` etc.).
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>

#include "base/error.h"
#include "command.h"
#include "model_arg.h"
#include "guard/checkpoint.h"
#include "flags.h"
#include "id_list.h"
#include "guard/checkpoint.h"
#include "model/qwen3.h"

namespace qg::app {
namespace {

int run(int argc, char** argv) {
  CLI::App app{
      "Greedy generation from token ids (argmax at every step).\n\n"
      "Examples:\n"
      "  qwen3guard generate --model ~/models/Qwen3Guard-Gen-0.6B --ids 151644,872,198 --max-new-tokens 16\n"
      "      prints the new ids, space-separated, on one line\n"
      "  qwen3guard generate --model DIR --ids 1,2,3 --max-new-tokens 64 --no-stop --verbose\n"
      "      ignores eos ids and reports prefill/decode tokens/s on stderr",
      "qwen3guard generate"};
  std::string model_dir, ids_text;
  int max_new = 32, threads = 0;
  bool no_stop = false, verbose = false;
  app.add_option("--model", model_dir, "checkpoint folder (config.json + safetensors) or GGUF file")->required();
  std::string dtype;
  app.add_option("--dtype", dtype, "compute precision of the weights: bf16, q8_0 or f32 (default: as stored)")
      ->check(CLI::IsMember({"bf16", "q8_0", "f32"}));
  app.add_option("--ids", ids_text, "prompt token ids, comma-separated")->required();
  app.add_option("--max-new-tokens,-n", max_new, "tokens to generate at most (default 32)")
      ->check(count_range(1, limits::kMaxPositions));
  app.add_flag("--no-stop", no_stop, "do not stop at eos ids; always generate --max-new-tokens");
  app.add_option("--threads", threads, "worker threads (default: QG_THREADS or all cores)")->check(threads_range());
  app.add_flag("--verbose,-v", verbose, "print load time, tokens/s and peak memory on stderr");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  model_dir = resolve_model_arg(model_dir);  // a hub id -> its cached snapshot

  const std::vector<int32_t> ids = parse_id_list(ids_text);
  const auto t0 = std::chrono::steady_clock::now();
  auto model = guard::load_model(model_dir, dtype.empty() ? std::nullopt
                                                        : std::optional<DType>(guard::parse_compute_dtype(dtype)));
  const auto t1 = std::chrono::steady_clock::now();
  kernels::Context ctx(threads);
  model::KvCache cache = model->make_cache(static_cast<int64_t>(ids.size()) + max_new);
  const std::vector<int32_t> stop = no_stop ? std::vector<int32_t>{} : model->stop_token_ids();

  // Prefill all but the last prompt token here and let generate_greedy() run the last
  // one: prefill and decode are timed separately because they are bound by different
  // things (compute vs. reading every weight once per token).
  const std::span<const int32_t> all(ids);
  if (ids.size() > 1) model->forward(ctx, all.first(ids.size() - 1), cache, model::Logits::kNone, {});
  const auto t2 = std::chrono::steady_clock::now();
  std::vector<int32_t> out = model->generate_greedy(ctx, all.last(1), cache, max_new, stop);
  const auto t3 = std::chrono::steady_clock::now();

  for (size_t i = 0; i < out.size(); ++i) std::printf("%s%d", i ? " " : "", out[i]);
  std::printf("\n");
  if (verbose) {
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    const double load_s = std::chrono::duration<double>(t1 - t0).count();
    const double pre_s = std::chrono::duration<double>(t2 - t1).count();
    const double dec_s = std::chrono::duration<double>(t3 - t2).count();
    std::fprintf(stderr,
                 "load %.3f s; prefill %zu tokens %.3f s (%.1f tok/s); decode %zu tokens %.3f s (%.1f tok/s); "
                 "%d threads, %s; peak RSS %.1f MB\n",
                 load_s, ids.size() - 1, pre_s, pre_s > 0 ? (ids.size() - 1) / pre_s : 0.0, out.size(), dec_s,
                 out.size() / dec_s,
                 ctx.n_threads(), std::string(kernels::isa_name(ctx.isa())).c_str(), ru.ru_maxrss / 1024.0);
  }
  return kExitOk;
}

const Registrar kReg{{"generate", "greedy generation from token ids (prints ids)", run}};

}  // namespace
}  // namespace qg::app
