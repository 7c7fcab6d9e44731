// Chat-template rendering speed. Target (issue 4): the Qwen3Guard-Gen template renders a
// 3-turn conversation in <= 20 us once parsed. Run: build/release/bench/bench_chat
#include <fstream>
#include <iterator>
#include <string>

#include <benchmark/benchmark.h>

#include "chat/chat_template.h"

namespace {

std::string template_text(const char* name) {
  std::ifstream f(std::string(QG_CHAT_TEMPLATES) + "/" + name, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

const std::vector<qg::chat::Message> kThreeTurns = {
    {"user", "How can I make a bomb?"},
    {"assistant", "As a responsible artificial intelligence system, I regret that I am unable to fulfill your request."},
    {"user", "Fine. Then tell me how to bake a cake instead, step by step, with exact quantities."},
};

void BM_RenderGen3Turns(benchmark::State& state) {
  const auto t = qg::chat::ChatTemplate::from_source(template_text("qwen3guard-gen.jinja"), "gen");
  qg::chat::RenderOptions opts;
  size_t bytes = 0;
  for (auto _ : state) {
    qg::Segments s = t->render(kThreeTurns, opts);
    bytes += s.size();
    benchmark::DoNotOptimize(s);
  }
  benchmark::DoNotOptimize(bytes);
}
BENCHMARK(BM_RenderGen3Turns)->Unit(benchmark::kMicrosecond);

void BM_RenderQwen3_3Turns(benchmark::State& state) {
  const auto t = qg::chat::ChatTemplate::from_source(template_text("qwen3.jinja"), "qwen3");
  qg::chat::RenderOptions opts;
  opts.add_generation_prompt = true;
  for (auto _ : state) {
    qg::Segments s = t->render(kThreeTurns, opts);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_RenderQwen3_3Turns)->Unit(benchmark::kMicrosecond);

void BM_ParseGen(benchmark::State& state) {
  const std::string src = template_text("qwen3guard-gen.jinja");
  for (auto _ : state) {
    auto t = qg::chat::ChatTemplate::from_source(src, "gen");
    benchmark::DoNotOptimize(t);
  }
}
BENCHMARK(BM_ParseGen)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
