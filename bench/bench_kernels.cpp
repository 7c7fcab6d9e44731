// Google Benchmark for the kernels at Qwen3-0.6B shapes (hidden 1024, intermediate
// 3072, 16 q / 8 kv heads × 128, vocab 151936), BF16 weights:
//   * matmul GEMV (n = 1, decode): memory-bound, judged by GB/s of weights streamed;
//   * matmul GEMM (n = 512, prefill): compute-bound, judged by GFLOP/s;
//   * attention for a 512-token prefill and one decode step on a 512-token cache;
//   * the whole 0.6B stack (28 layers + lm_head of the last token) made of these
//     kernels with random weights: the kernel-bound tokens/s of prefill and decode.
// Each for the scalar reference and for avx2 (when the CPU has it). Threads come from
// QG_THREADS (default: all cores). Run:
//   QG_THREADS=2 build/release/bench/bench_kernels --benchmark_filter=avx2
#include <benchmark/benchmark.h>

#include <time.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <random>
#include <vector>

#include "base/dtype.h"
#include "kernels/kernels.h"
#include "kernels/probe.h"

namespace qg::kernels {
namespace {

// Uniform in (-0.05, 0.05) from a 64-bit LCG: the whole-stack benchmark fills over a
// GB of weights, and mt19937 would take a minute of setup.
std::vector<uint16_t> random_bf16(size_t n, uint32_t seed) {
  uint64_t state = 0x9E3779B97F4A7C15ull * (seed + 1);
  std::vector<uint16_t> v(n);
  for (auto& h : v) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const float u = static_cast<float>(state >> 40) * (1.0f / 16777216.0f);  // [0, 1)
    h = f32_to_bf16(0.1f * u - 0.05f);
  }
  return v;
}

std::vector<float> random_f32(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// The machine's limits, measured once in main() (kernels/probe.h) for the threads and ISA
// of the avx2 benchmarks; the counters below are printed as a fraction of them.
ProbeResult g_peak, g_bw;

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Times the benchmark loop itself (wall and process CPU) so the counters can be set as
// plain numbers: GFLOP/s and GB/s by the wall clock, their % of the measured peak and
// bandwidth, and "core" GFLOP/s by process CPU time (what the threads did while they ran:
// on a loaded machine the wall figures include time the OS gave to other processes).
struct LoopTimer {
  double wall0, cpu0;
  LoopTimer()
      : wall0(std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
                  .count()),
        cpu0(process_cpu_seconds()) {}
  void report(benchmark::State& state, double flops, double bytes, const Context& ctx) const {
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count() -
        wall0;
    const double cpu = process_cpu_seconds() - cpu0;
    const double it = static_cast<double>(state.iterations());
    const double gflops = flops * it / wall * 1e-9, gbs = bytes * it / wall * 1e-9;
    state.counters["GFLOP/s"] = gflops;
    state.counters["GB/s"] = gbs;
    state.counters["core_GFLOP/s"] = flops * it / cpu * 1e-9;
    if (ctx.isa() == Isa::kAvx2 && g_peak.wall > 0) {
      state.counters["%peak"] = 100.0 * gflops / g_peak.wall;
      state.counters["%core_peak"] = 100.0 * (flops * it / cpu * 1e-9) / g_peak.per_core;
      state.counters["%bw"] = 100.0 * gbs / g_bw.wall;
    }
    state.counters["threads"] = ctx.n_threads();
    state.SetLabel(std::string(isa_name(ctx.isa())));
  }
};

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
  matmul(ctx, ref, x.data(), n, y.data());  // warm-up: thread scratch, page faults
  LoopTimer timer;
  for (auto _ : state) {
    matmul(ctx, ref, x.data(), n, y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  timer.report(state, 2.0 * n * rows * cols, 2.0 * rows * cols + 4.0 * n * (rows + cols), ctx);
}

void matmul_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"rows", "cols", "n", "isa"});
  const std::pair<int, int> shapes[] = {{2048, 1024}, {1024, 2048}, {3072, 1024},
                                        {1024, 3072}, {151936, 1024}};
  for (int isa : {0, 1}) {
    // Decode GEMV: q_proj (1024→2048), o_proj (2048→1024), up/gate, down, lm_head.
    for (auto [rows, cols] : shapes) b->Args({rows, cols, 1, isa});
    if (isa == 0) continue;  // the scalar GEMM takes seconds per call
    // Small batches (several sequences decoding together): GEMV/GEMM switch, packing.
    for (int n : {2, 3, 4, 6, 8, 16, 32}) b->Args({3072, 1024, n, isa});
    // Prefill GEMM: a 100- and a 512-token prompt (lm_head only at 100: 31 GFLOP per call).
    for (auto [rows, cols] : shapes) {
      b->Args({rows, cols, 100, isa});
      if (rows != 151936) b->Args({rows, cols, 512, isa});
    }
  }
}
BENCHMARK(BM_matmul_bf16)->Apply(matmul_args)->Unit(benchmark::kMillisecond)->UseRealTime();

// Fused q/k/v projection of one layer (2048 + 1024 + 1024 rows × 1024), args: n, fused.
void BM_qkv_bf16(benchmark::State& state) {
  const int64_t n = state.range(0);
  const bool fused = state.range(1) != 0;
  Context ctx(0);
  const int64_t rows[3] = {2048, 1024, 1024}, cols = 1024;
  std::vector<std::vector<uint16_t>> w;
  std::vector<std::vector<float>> y;
  MatRef refs[3];
  float* ys[3];
  for (int i = 0; i < 3; ++i) {
    w.push_back(random_bf16(static_cast<size_t>(rows[i] * cols), 20 + i));  // [rows_i, cols]
    y.emplace_back(static_cast<size_t>(n * rows[i]));                        // [n, rows_i]
    refs[i] = MatRef{w[i].data(), DType::kBF16, rows[i], cols};
    ys[i] = y[i].data();
  }
  const std::vector<float> x = random_f32(static_cast<size_t>(n * cols), 2);  // [n, cols]
  auto run = [&] {
    if (fused) {
      matmul_multi(ctx, refs, 3, x.data(), n, ys);
    } else {
      for (int i = 0; i < 3; ++i) matmul(ctx, refs[i], x.data(), n, ys[i]);
    }
  };
  run();
  LoopTimer timer;
  for (auto _ : state) {
    run();
    benchmark::ClobberMemory();
  }
  timer.report(state, 2.0 * n * 4096 * cols, 2.0 * 4096 * cols + 4.0 * n * (4096 + cols), ctx);
}
BENCHMARK(BM_qkv_bf16)
    ->ArgNames({"n", "fused"})
    ->Args({1, 0})
    ->Args({1, 1})
    ->Args({512, 0})
    ->Args({512, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Causal: query i sees pos0 + i + 1 keys; 2 FLOP per (key, dim) for QKᵀ and for PV.
double attention_flops(int64_t n_q, int64_t pos0, int64_t n_heads, int64_t head_dim) {
  double pairs = 0;
  for (int64_t i = 0; i < n_q; ++i) pairs += double(pos0 + i + 1);
  return 4.0 * pairs * n_heads * head_dim;
}

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
  LoopTimer timer;
  for (auto _ : state) {
    attention(ctx, q.data(), n_q, pos0, k.data(), v.data(), n_heads, n_kv_heads, head_dim, scale,
              out.data(), scratch.data());
    benchmark::DoNotOptimize(out.data());
  }
  timer.report(state, attention_flops(n_q, pos0, n_heads, head_dim), 0, ctx);
}
BENCHMARK(BM_attention)
    ->ArgNames({"n_q", "pos0", "isa"})
    ->Args({512, 0, 0})
    ->Args({1, 511, 0})
    ->Args({512, 0, 1})
    ->Args({1, 511, 1})
    ->Args({1, 4095, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// attention_paged over a cache in 16-token blocks in shuffled order. args: n_q, pos0, isa,
// kv dtype (0 f32, 1 f16).
void BM_attention_paged(benchmark::State& state) {
  const int64_t n_q = state.range(0), pos0 = state.range(1);
  const Isa isa = state.range(2) == 0 ? Isa::kScalar : Isa::kAvx2;
  const DType dtype = state.range(3) == 0 ? DType::kF32 : DType::kF16;
  if (!isa_supported(isa)) {
    state.SkipWithError("ISA not supported by this CPU");
    return;
  }
  const int64_t n_heads = 16, n_kv_heads = 8, head_dim = 128, n_pos = pos0 + n_q, bt = 16;
  const int64_t row = n_kv_heads * head_dim, n_blocks = (n_pos + bt - 1) / bt;
  Context ctx(0, isa);
  std::vector<int32_t> blocks(n_blocks);  // [n_blocks] logical -> physical, reversed
  for (int64_t b = 0; b < n_blocks; ++b) blocks[b] = static_cast<int32_t>(n_blocks - 1 - b);
  const std::vector<float> kv_rows = random_f32(n_pos * row, 4);  // [n_pos, 8, 128]
  std::vector<uint8_t> k_pool(n_blocks * bt * row * dtype_size(dtype));
  std::vector<uint8_t> v_pool(k_pool.size());
  const PagedKv kv{k_pool.data(), v_pool.data(), blocks.data(), bt, bt * row, dtype};
  kv_store(ctx, kv_rows.data(), n_pos, row, 0, k_pool.data(), kv);
  kv_store(ctx, kv_rows.data(), n_pos, row, 0, v_pool.data(), kv);
  const std::vector<float> q = random_f32(n_q * n_heads * head_dim, 3);  // [n_q, 16, 128]
  std::vector<float> out(q.size());                                      // [n_q, 16, 128]
  std::vector<float> scratch(attention_paged_scratch_floats(ctx, n_q, n_pos, n_heads, head_dim));
  const float scale = 1.0f / std::sqrt(128.0f);
  LoopTimer timer;
  for (auto _ : state) {
    attention_paged(ctx, q.data(), n_q, pos0, kv, n_heads, n_kv_heads, head_dim, scale, out.data(),
                    scratch.data());
    benchmark::DoNotOptimize(out.data());
  }
  timer.report(state, attention_flops(n_q, pos0, n_heads, head_dim), 0, ctx);
}
BENCHMARK(BM_attention_paged)
    ->ArgNames({"n_q", "pos0", "isa", "f16"})
    ->Args({512, 0, 1, 0})
    ->Args({512, 0, 1, 1})
    ->Args({1, 511, 1, 0})
    ->Args({1, 511, 1, 1})
    ->Args({4096, 0, 1, 0})
    ->Args({1, 4095, 1, 0})
    ->Args({512, 0, 0, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Qwen3-0.6B shapes.
constexpr int64_t kHidden = 1024, kInter = 3072, kHeads = 16, kKvHeads = 8, kHeadDim = 128;
constexpr int64_t kLayers = 28, kVocab = 151936;

struct Layer {
  std::vector<uint16_t> q, k, v, o, gate, up, down;  // bf16 [out, in] as in the checkpoint
  std::vector<float> norm_in, norm_post, q_norm, k_norm;
};

MatRef mat(const std::vector<uint16_t>& w, int64_t rows, int64_t cols) {
  return MatRef{w.data(), DType::kBF16, rows, cols};
}

// One forward pass of n tokens at positions pos0.. over all layers, the kernel calls a
// Qwen3 decoder layer makes (the model/ layer adds only bookkeeping), then the final
// norm and the lm_head row products of the last token. args: n, pos0.
void BM_qwen3_0_6b_stack(benchmark::State& state) {
  const int64_t n = state.range(0), pos0 = state.range(1), n_ctx = pos0 + n;
  Context ctx(0);
  std::vector<Layer> layers(kLayers);
  uint32_t seed = 10;
  for (Layer& l : layers) {
    l.q = random_bf16(kHeads * kHeadDim * kHidden, seed++);
    l.k = random_bf16(kKvHeads * kHeadDim * kHidden, seed++);
    l.v = random_bf16(kKvHeads * kHeadDim * kHidden, seed++);
    l.o = random_bf16(kHidden * kHeads * kHeadDim, seed++);
    l.gate = random_bf16(kInter * kHidden, seed++);
    l.up = random_bf16(kInter * kHidden, seed++);
    l.down = random_bf16(kHidden * kInter, seed++);
    l.norm_in = l.norm_post = std::vector<float>(kHidden, 1.0f);
    l.q_norm = l.k_norm = std::vector<float>(kHeadDim, 1.0f);
  }
  const std::vector<uint16_t> lm_head = random_bf16(kVocab * kHidden, seed++);  // [vocab, hidden]
  std::vector<float> inv_freq(kHeadDim / 2);
  for (int64_t j = 0; j < kHeadDim / 2; ++j) {
    inv_freq[j] = static_cast<float>(1.0 / std::pow(1e6, double(2 * j) / kHeadDim));
  }
  std::vector<int32_t> pos(n);
  for (int64_t i = 0; i < n; ++i) pos[i] = static_cast<int32_t>(pos0 + i);
  // KV cache [layers, n_ctx, kv_heads, head_dim]; rows before pos0 hold random "history".
  const int64_t kv_row = kKvHeads * kHeadDim;
  std::vector<float> k_cache = random_f32(kLayers * n_ctx * kv_row, 6);
  std::vector<float> v_cache = random_f32(kLayers * n_ctx * kv_row, 7);
  std::vector<float> x = random_f32(n * kHidden, 8);    // [n, hidden] residual stream
  std::vector<float> h(n * kHidden);                    // [n, hidden]
  std::vector<float> q(n * kHeads * kHeadDim);          // [n, heads, head_dim]
  std::vector<float> att(n * kHeads * kHeadDim);        // [n, heads, head_dim]
  std::vector<float> gate(n * kInter), up(n * kInter);  // [n, intermediate]
  std::vector<float> logits(kVocab);                    // [vocab]
  std::vector<float> scratch(attention_scratch_floats(ctx, n, n_ctx, kHeads));
  const float scale = 1.0f / std::sqrt(float(kHeadDim));
  // fused = 1: the calls the engine's model makes (one matmul_multi for q/k/v and one for
  // gate/up, K/V stored with kv_store into a paged pool, attention_paged). The pool uses an
  // identity block table over the same [n_ctx, kv_heads, head_dim] layer buffers.
  const bool fused = state.range(2) != 0;
  const int64_t bt = 16, n_blocks = (n_ctx + bt - 1) / bt;
  std::vector<int32_t> blocks(n_blocks);  // [n_blocks]
  for (int64_t b = 0; b < n_blocks; ++b) blocks[b] = static_cast<int32_t>(b);
  if (fused) {
    k_cache.resize(kLayers * n_blocks * bt * kv_row);
    v_cache.resize(k_cache.size());
  }
  const int64_t layer_stride = fused ? n_blocks * bt * kv_row : n_ctx * kv_row;
  std::vector<float> k_rows(n * kv_row), v_rows(n * kv_row);  // [n, kv_heads, head_dim]
  std::vector<float> paged_scratch(attention_paged_scratch_floats(ctx, n, n_ctx, kHeads, kHeadDim));
  LoopTimer timer;
  for (auto _ : state) {
    for (int64_t li = 0; li < kLayers; ++li) {
      const Layer& l = layers[li];
      float* kc = k_cache.data() + li * layer_stride;  // [n_ctx, kv_heads, head_dim]
      float* vc = v_cache.data() + li * layer_stride;
      float* k_new = fused ? k_rows.data() : kc + pos0 * kv_row;
      float* v_new = fused ? v_rows.data() : vc + pos0 * kv_row;
      rmsnorm(ctx, x.data(), l.norm_in.data(), n, kHidden, 1e-6f, h.data());
      if (fused) {
        const MatRef qkv[3] = {mat(l.q, kHeads * kHeadDim, kHidden), mat(l.k, kv_row, kHidden),
                               mat(l.v, kv_row, kHidden)};
        float* ys[3] = {q.data(), k_new, v_new};
        matmul_multi(ctx, qkv, 3, h.data(), n, ys);
      } else {
        matmul(ctx, mat(l.q, kHeads * kHeadDim, kHidden), h.data(), n, q.data());
        matmul(ctx, mat(l.k, kv_row, kHidden), h.data(), n, k_new);
        matmul(ctx, mat(l.v, kv_row, kHidden), h.data(), n, v_new);
      }
      rmsnorm(ctx, q.data(), l.q_norm.data(), n * kHeads, kHeadDim, 1e-6f, q.data());
      rmsnorm(ctx, k_new, l.k_norm.data(), n * kKvHeads, kHeadDim, 1e-6f, k_new);
      rope(ctx, q.data(), n, kHeads, kHeadDim, pos.data(), inv_freq.data());
      rope(ctx, k_new, n, kKvHeads, kHeadDim, pos.data(), inv_freq.data());
      if (fused) {
        const PagedKv kv{kc, vc, blocks.data(), bt, bt * kv_row, DType::kF32};
        kv_store(ctx, k_new, n, kv_row, pos0, kc, kv);
        kv_store(ctx, v_new, n, kv_row, pos0, vc, kv);
        attention_paged(ctx, q.data(), n, pos0, kv, kHeads, kKvHeads, kHeadDim, scale, att.data(),
                        paged_scratch.data());
      } else {
        attention(ctx, q.data(), n, pos0, kc, vc, kHeads, kKvHeads, kHeadDim, scale, att.data(),
                  scratch.data());
      }
      matmul(ctx, mat(l.o, kHidden, kHeads * kHeadDim), att.data(), n, h.data());
      add(ctx, x.data(), h.data(), n * kHidden, x.data());
      rmsnorm(ctx, x.data(), l.norm_post.data(), n, kHidden, 1e-6f, h.data());
      if (fused) {
        const MatRef gu[2] = {mat(l.gate, kInter, kHidden), mat(l.up, kInter, kHidden)};
        float* ys[2] = {gate.data(), up.data()};
        matmul_multi(ctx, gu, 2, h.data(), n, ys);
      } else {
        matmul(ctx, mat(l.gate, kInter, kHidden), h.data(), n, gate.data());
        matmul(ctx, mat(l.up, kInter, kHidden), h.data(), n, up.data());
      }
      silu_mul(ctx, gate.data(), up.data(), n * kInter, gate.data());
      matmul(ctx, mat(l.down, kHidden, kInter), gate.data(), n, h.data());
      add(ctx, x.data(), h.data(), n * kHidden, x.data());
    }
    const float* last = x.data() + (n - 1) * kHidden;
    rmsnorm(ctx, last, layers[0].norm_in.data(), 1, kHidden, 1e-6f, h.data());
    matmul(ctx, mat(lm_head, kVocab, kHidden), h.data(), 1, logits.data());
    benchmark::DoNotOptimize(logits.data());
    // Keep the residual stream bounded across iterations (random weights, no training).
    rmsnorm(ctx, x.data(), layers[0].norm_in.data(), n, kHidden, 1e-6f, x.data());
  }
  // ~2 FLOP per weight per token (the lm_head of the last token only) + attention.
  const double weights = kLayers * (4096.0 * kHidden + 1024.0 * kHeads * kHeadDim + 3.0 * kInter * kHidden);
  const double flops = 2.0 * weights * n + 2.0 * kVocab * kHidden +
                       kLayers * attention_flops(n, pos0, kHeads, kHeadDim);
  timer.report(state, flops, 2.0 * (weights + kVocab * kHidden), ctx);
  state.counters["tokens/s"] =
      benchmark::Counter(double(n), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_qwen3_0_6b_stack)
    ->ArgNames({"n", "pos0", "fused"})
    ->Args({512, 0, 0})  // prefill of a 512-token prompt, one call per projection
    ->Args({512, 0, 1})  // the same with matmul_multi + paged attention
    ->Args({1, 512, 0})  // one decode step after it
    ->Args({1, 512, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace qg::kernels

// Measures the machine's FMA peak and read bandwidth first (same threads as the
// benchmarks, best ISA), prints them, then runs the benchmarks.
int main(int argc, char** argv) {
  {
    qg::kernels::Context ctx(0);
    qg::kernels::g_peak = qg::kernels::measure_fma_peak(ctx);
    qg::kernels::g_bw = qg::kernels::measure_read_bandwidth(ctx);
    std::printf(
        "machine (%s, %d threads): FMA peak %.1f GFLOP/s wall (%.1f per core by CPU time); "
        "streaming read %.1f GB/s wall (%.1f per core)\n",
        std::string(qg::kernels::isa_name(ctx.isa())).c_str(), ctx.n_threads(),
        qg::kernels::g_peak.wall, qg::kernels::g_peak.per_core, qg::kernels::g_bw.wall,
        qg::kernels::g_bw.per_core);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
