// bench_tokenizer: encode throughput of qg::tok on a corpus (one thread), tokenizer load
// time and resident memory. Prints one JSON line; tools/tokenizer/bench.sh runs it next
// to the npm `tokenizers` binding on the same corpus and prints the ratio.
//   bench_tokenizer TOKENIZER_JSON CORPUS [REPEATS=3]
// CORPUS: documents separated by U+001E (tools/tokenizer/bench_corpus.js).
#include <chrono>
#include <ctime>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "tokenizer/tokenizer.h"

namespace {

// Resident set size of this process in kB (Linux /proc).
long rss_kb() {
  std::ifstream f("/proc/self/status");
  std::string key;
  long value = 0;
  while (f >> key) {
    if (key == "VmRSS:") {
      f >> value;
      return value;
    }
    f.ignore(1 << 20, '\n');
  }
  return 0;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_tokenizer TOKENIZER_JSON CORPUS [REPEATS]\n");
    return 2;
  }
  try {
    std::ifstream f(argv[2], std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    const std::string corpus = ss.str();
    std::vector<std::string_view> docs;
    for (size_t pos = 0;;) {
      const size_t end = corpus.find('\x1e', pos);
      docs.push_back(std::string_view(corpus).substr(pos, end == std::string::npos ? std::string::npos : end - pos));
      if (end == std::string::npos) break;
      pos = end + 1;
    }
    const long rss0 = rss_kb();
    auto t0 = std::chrono::steady_clock::now();
    const auto tok = qg::tok::Tokenizer::load(argv[1]);
    const double load_s = seconds_since(t0);
    const long rss1 = rss_kb();
    const int repeats = argc > 3 ? std::atoi(argv[3]) : 3;
    double best = 1e30, best_cpu = 1e30;
    size_t tokens = 0;
    for (int rep = 0; rep < repeats; ++rep) {
      tokens = 0;
      t0 = std::chrono::steady_clock::now();
      const std::clock_t c0 = std::clock();
      for (std::string_view d : docs) tokens += tok->encode(d, qg::Origin::kTemplate).size();
      best = std::min(best, seconds_since(t0));
      best_cpu = std::min(best_cpu, static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC);
    }
    const long rss2 = rss_kb();
    std::printf(
        "{\"impl\": \"qwen3guard qg::tok\", \"docs\": %zu, \"bytes\": %zu, \"tokens\": %zu, \"seconds\": %.4f, "
        "\"mb_per_s\": %.2f, \"cpu_seconds\": %.4f, \"load_ms\": %.1f, \"rss_tokenizer_mb\": %.1f, \"rss_after_encode_mb\": %.1f}\n",
        docs.size(), corpus.size() - (docs.size() - 1), tokens, best, (corpus.size() - (docs.size() - 1)) / 1e6 / best,
        best_cpu, load_s * 1e3, (rss1 - rss0) / 1024.0, (rss2 - rss0) / 1024.0);
  } catch (const qg::Error& e) {
    std::fprintf(stderr, "bench_tokenizer: %s\n", e.what());
    return 1;
  }
  return 0;
}
