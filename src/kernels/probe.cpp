// kernels/probe.h: runs the probe loops on every pool thread and times them, by the wall
// clock (all threads together) and by each thread's CPU time (per core).
#include "kernels/probe.h"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <vector>

#include "kernels/kernel_table.h"
#include "kernels/thread_pool.h"

namespace qg::kernels {
namespace avx2 {
float fma_loop(int64_t iters);             // avx2/probe_avx2.cpp
float read_sum(const float* p, int64_t n);
}  // namespace avx2

namespace {

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// The scalar counterpart of avx2::fma_loop: 4 chains of multiply-adds (2 FLOP each).
float scalar_fma_loop(int64_t iters) {
  volatile float a_in = 0.999f, b_in = 0.001f;
  const float a = a_in, b = b_in;
  float c0 = 0.1f, c1 = 0.2f, c2 = 0.3f, c3 = 0.4f;
  for (int64_t i = 0; i < iters; ++i) {
    c0 = c0 * a + b;
    c1 = c1 * a + b;
    c2 = c2 * a + b;
    c3 = c3 * a + b;
  }
  return c0 + c1 + c2 + c3;
}

float scalar_read_sum(const float* p, int64_t n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (int64_t i = 0; i < n; i += 4) {
    s0 += p[i];
    s1 += p[i + 1];
    s2 += p[i + 2];
    s3 += p[i + 3];
  }
  return s0 + s1 + s2 + s3;
}

// Calls body(thread) on every pool thread, `rounds` times; returns {wall seconds, Σ thread CPU s}.
template <class F>
std::pair<double, double> timed_rounds(ThreadPool& pool, int rounds, F&& body) {
  const int t = pool.n_threads();
  std::vector<double> cpu(t, 0.0);
  const auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < rounds; ++r) {
    pool.parallel_ranges(t, [&](int64_t b, int64_t e, int thread) {
      for (int64_t i = b; i < e; ++i) {
        const double c0 = thread_cpu_seconds();
        body(static_cast<int>(i));
        cpu[thread] += thread_cpu_seconds() - c0;
      }
    });
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double cpu_sum = 0;
  for (double c : cpu) cpu_sum += c;
  return {wall, cpu_sum};
}

std::atomic<float> g_sink{0};  // keeps the probe loops' results alive

}  // namespace

ProbeResult measure_fma_peak(const Context& ctx, double seconds) {
  const bool avx2 = ctx.isa() == Isa::kAvx2;
  const int t = ctx.n_threads();
  const double flop_per_iter = avx2 ? 192.0 : 8.0;
  // Calibrate: iterations per thread for ~seconds/4 per round, 4 rounds.
  int64_t iters = 1 << 16;
  for (;;) {
    auto [wall, cpu] = timed_rounds(ctx.pool(), 1, [&](int) {
      g_sink = g_sink + (avx2 ? avx2::fma_loop(iters) : scalar_fma_loop(iters));
    });
    if (wall > seconds / 16 || iters > (int64_t{1} << 40)) break;
    iters *= 2;
  }
  iters *= 4;
  auto [wall, cpu] = timed_rounds(ctx.pool(), 4, [&](int) {
    g_sink = g_sink + (avx2 ? avx2::fma_loop(iters) : scalar_fma_loop(iters));
  });
  const double flops = 4.0 * t * static_cast<double>(iters) * flop_per_iter;
  return {flops / wall * 1e-9, flops / cpu * 1e-9, t};
}

ProbeResult measure_read_bandwidth(const Context& ctx, size_t bytes, double seconds) {
  const bool avx2 = ctx.isa() == Isa::kAvx2;
  const int t = ctx.n_threads();
  const int64_t per_thread = static_cast<int64_t>(bytes / sizeof(float)) / t / 32 * 32;
  // One buffer per thread, first touched by its own thread (NUMA-local, pages mapped).
  std::vector<std::vector<float>> bufs(t);
  timed_rounds(ctx.pool(), 1, [&](int i) { bufs[i].assign(per_thread + 16, 1.0f); });
  auto aligned = [&](int i) {
    float* p = bufs[i].data();
    return p + ((64 - reinterpret_cast<uintptr_t>(p) % 64) % 64) / sizeof(float);
  };
  auto body = [&](int i) {
    g_sink = g_sink + (avx2 ? avx2::read_sum(aligned(i), per_thread)
                            : scalar_read_sum(aligned(i), per_thread));
  };
  auto [w1, c1] = timed_rounds(ctx.pool(), 1, body);  // warm-up and calibration
  const int rounds = std::max(1, static_cast<int>(seconds / std::max(w1, 1e-6)));
  auto [wall, cpu] = timed_rounds(ctx.pool(), rounds, body);
  const double moved = static_cast<double>(rounds) * t * per_thread * sizeof(float);
  return {moved / wall * 1e-9, moved / cpu * 1e-9, t};
}

}  // namespace qg::kernels
