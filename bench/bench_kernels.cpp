// Google Benchmark for the kernels at Qwen3-0.6B shapes (hidden 1024, intermediate
// 3072, 16 q / 8 kv heads × 128, vocab 151936), BF16 weights:
//   * matmul GEMV (n = 1, decode): memory-bound, judged by GB/s of weights streamed;
//   * matmul GEMM (n = 512, prefill): compute-bound, judged by GFLOP/s;
//   * attention for a 512-token prefill and one decode step on a 512-token cache.
// Each for the scalar reference and for avx2 (when the CPU has it). Threads come from
// QG_THREADS (default: all cores). Run:
//   QG_THREADS=2 build/release/bench/bench_kernels --benchmark_filter=avx2
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "base/dtype.h"
#include "kernels/kernels.h"

namespace qg::kernels {
namespace {

std::vector<uint16_t> random_bf16(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-0.05f, 0.05f);
  std::vector<uint16_t> v(n);
  for (auto& h : v) h = f32_to_bf16(dist(rng));
  return v;
}

std::vector<float> random_f32(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// args: rows (out), cols (in), n (tokens), isa (0 scalar, 1 avx2).
void BM_matmul_bf16(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1), n = state.range(2);
  const Isa isa = state.range(3) == 0 ? Isa::kScalar : Isa::kAvx2;
  if (!isa_supported(isa)) {
    state.SkipWithError("ISA not supported by this CPU");
    return;
  }
  Context ctx(0, isa);
  const std::vector<uint16_t> w = random_bf16(static_cast<size_t>(rows * cols), 1);  // [rows, cols]
  const std::vector<float> x = random_f32(static_cast<size_t>(n * cols), 2);         // [n, cols]
  std::vector<float> y(static_cast<size_t>(n * rows));                               // [n, rows]
  const MatRef ref{w.data(), DType::kBF16, rows, cols};
  for (auto _ : state) {
    matmul(ctx, ref, x.data(), n, y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * n * rows * cols;
  const double bytes = 2.0 * rows * cols + 4.0 * n * (rows + cols);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB/s"] =
      benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = ctx.n_threads();
  state.SetLabel(std::string(isa_name(isa)));
}

void matmul_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"rows", "cols", "n", "isa"});
  for (int isa : {0, 1}) {
    // Decode GEMV: up/gate (1024→3072), down (3072→1024), q_proj (1024→2048), lm_head.
    for (auto [rows, cols] : {std::pair{3072, 1024}, {1024, 3072}, {2048, 1024}, {151936, 1024}}) {
      b->Args({rows, cols, 1, isa});
    }
    // Prefill GEMM of a 512-token prompt (the scalar path is slow: seconds per call).
    for (auto [rows, cols] : {std::pair{3072, 1024}, {1024, 3072}, {2048, 1024}}) {
      b->Args({rows, cols, 512, isa});
    }
  }
}
BENCHMARK(BM_matmul_bf16)->Apply(matmul_args)->Unit(benchmark::kMillisecond)->UseRealTime();

// args: n_q, pos0, isa. 16 q heads, 8 kv heads, head_dim 128.
void BM_attention(benchmark::State& state) {
  const int64_t n_q = state.range(0), pos0 = state.range(1);
  const Isa isa = state.range(2) == 0 ? Isa::kScalar : Isa::kAvx2;
  if (!isa_supported(isa)) {
    state.SkipWithError("ISA not supported by this CPU");
    return;
  }
  const int64_t n_heads = 16, n_kv_heads = 8, head_dim = 128, n_kv = pos0 + n_q;
  Context ctx(0, isa);
  const std::vector<float> q = random_f32(n_q * n_heads * head_dim, 3);      // [n_q, 16, 128]
  const std::vector<float> k = random_f32(n_kv * n_kv_heads * head_dim, 4);  // [n_kv, 8, 128]
  const std::vector<float> v = random_f32(n_kv * n_kv_heads * head_dim, 5);  // [n_kv, 8, 128]
  std::vector<float> out(q.size());                                          // [n_q, 16, 128]
  std::vector<float> scratch(attention_scratch_floats(ctx, n_q, n_kv, n_heads));
  const float scale = 1.0f / std::sqrt(128.0f);
  for (auto _ : state) {
    attention(ctx, q.data(), n_q, pos0, k.data(), v.data(), n_heads, n_kv_heads, head_dim, scale,
              out.data(), scratch.data());
    benchmark::DoNotOptimize(out.data());
  }
  // Causal: query i sees pos0 + i + 1 keys; 2 FLOP per (key, dim) for QKᵀ and for PV.
  double pairs = 0;
  for (int64_t i = 0; i < n_q; ++i) pairs += double(pos0 + i + 1);
  const double flops = 4.0 * pairs * n_heads * head_dim;
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(isa_name(isa)));
}
BENCHMARK(BM_attention)
    ->ArgNames({"n_q", "pos0", "isa"})
    ->Args({512, 0, 0})
    ->Args({1, 511, 0})
    ->Args({512, 0, 1})
    ->Args({1, 511, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace qg::kernels

BENCHMARK_MAIN();
