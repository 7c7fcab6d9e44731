// `qwen3guard logits`: runs the model on a list of token ids and prints the top-K
// logits of the last position (or of every position), or writes them to a .npy file.
// A debugging and testing tool: it exercises model/ without tokenizer or template.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <numeric>

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

// Writes a little-endian f32 array in NumPy's .npy format, version 1.0: magic, a
// header dict padded with spaces to a multiple of 64 bytes, then the raw data.
void write_npy(const std::string& path, const std::vector<float>& data, const std::vector<int64_t>& shape) {
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i) dims += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) dims += ",";  // a 1-tuple is "(v,)" in Python
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::ofstream f(path, std::ios::binary);
  if (!f) fail(path, ": cannot create");
  const char magic[] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0};
  f.write(magic, sizeof magic);
  const uint16_t hlen = static_cast<uint16_t>(header.size());
  const char hl[2] = {static_cast<char>(hlen & 0xff), static_cast<char>(hlen >> 8)};
  f.write(hl, 2);
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size() * sizeof(float)));
  f.close();  // the last buffer is written here: a full disk shows up now
  if (!f) fail(path, ": write failed");
}

void print_top(const float* row, int64_t vocab, int k) {
  std::vector<int32_t> idx(static_cast<size_t>(vocab));
  std::iota(idx.begin(), idx.end(), 0);
  k = static_cast<int>(std::min<int64_t>(k, vocab));
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int32_t a, int32_t b) {
    return row[a] != row[b] ? row[a] > row[b] : a < b;
  });
  for (int i = 0; i < k; ++i) std::printf("  %d\t%.6f\n", idx[i], row[idx[i]]);
}

int run(int argc, char** argv) {
  CLI::App app{
      "Run the model on token ids and show the logits.\n\n"
      "Examples:\n"
      "  qwen3guard logits --model ~/models/Qwen3Guard-Gen-0.6B --ids 151644,872,198\n"
      "      top-10 next-token ids and logits after the last id\n"
      "  qwen3guard logits --model DIR --ids 1,2,3 --all-positions --top 3\n"
      "      top-3 at every position\n"
      "  qwen3guard logits --model DIR --ids 1,2,3 --all-positions --out logits.npy\n"
      "      writes float32 [3, vocab] (or [vocab] without --all-positions) for numpy.load",
      "qwen3guard logits"};
  std::string model_dir, ids_text, out_path;
  bool all = false, verbose = false;
  int top = 10, threads = 0;
  app.add_option("--model", model_dir, "checkpoint folder (config.json + safetensors) or GGUF file")->required();
  std::string dtype;
  app.add_option("--dtype", dtype, "compute precision of the weights: bf16, q8_0 or f32 (default: as stored)")
      ->check(CLI::IsMember({"bf16", "q8_0", "f32"}));
  app.add_option("--ids", ids_text, "token ids, comma-separated, e.g. 151644,872,198")->required();
  app.add_flag("--all-positions", all, "logits of every position, not only the last");
  app.add_option("--top", top, "how many top logits to print per position")->check(CLI::PositiveNumber);
  app.add_option("--out", out_path, "write the logits as a float32 .npy file instead of printing");
  app.add_option("--threads", threads, "worker threads (default: QG_THREADS or all cores)")->check(threads_range());
  app.add_flag("--verbose,-v", verbose, "print load time, throughput and peak memory on stderr");
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
  const int64_t vocab = model->config().vocab_size;
  const auto n = static_cast<int64_t>(ids.size());
  model::KvCache cache = model->make_cache(n);
  std::vector<float> logits(static_cast<size_t>((all ? n : 1) * vocab));
  model->forward(ctx, ids, cache, all ? model::Logits::kAll : model::Logits::kLast, logits);
  const auto t2 = std::chrono::steady_clock::now();

  if (!out_path.empty()) {
    write_npy(out_path, logits, all ? std::vector<int64_t>{n, vocab} : std::vector<int64_t>{vocab});
  } else if (all) {
    for (int64_t i = 0; i < n; ++i) {
      std::printf("position %lld (token %d):\n", static_cast<long long>(i), ids[i]);
      print_top(logits.data() + i * vocab, vocab, top);
    }
  } else {
    std::printf("after %lld tokens, top %d next tokens (id, logit):\n", static_cast<long long>(n), top);
    print_top(logits.data(), vocab, top);
  }
  if (verbose) {
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    const double load_s = std::chrono::duration<double>(t1 - t0).count();
    const double run_s = std::chrono::duration<double>(t2 - t1).count();
    std::fprintf(stderr, "load %.3f s; %lld tokens in %.3f s (%.1f tok/s, %d threads, %s); peak RSS %.1f MB\n",
                 load_s, static_cast<long long>(n), run_s, n / run_s, ctx.n_threads(),
                 std::string(kernels::isa_name(ctx.isa())).c_str(), ru.ru_maxrss / 1024.0);
  }
  return kExitOk;
}

const Registrar kReg{{"logits", "run the model on token ids; print top-K logits or write .npy", run}};

}  // namespace
}  // namespace qg::app
