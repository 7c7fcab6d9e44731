// Machine limits measured at run time, so that benchmarks can print their figures as a
// fraction of what this CPU can do (issue 11: "% of measured peak", "% of measured read
// bandwidth"). Each probe runs on every thread of a Context's pool, with the Context's ISA:
// avx2 probes the AVX2 FMA instruction mix the kernels use; scalar probes scalar code.
#pragma once

#include <cstddef>

#include "kernels/kernels.h"

namespace qg::kernels {

struct ProbeResult {
  double wall = 0;      // work per wall-clock second, all threads together (GFLOP/s or GB/s)
  double per_core = 0;  // work per second of a thread's own CPU time (excludes preemption)
  int threads = 0;
};

// Independent 8-lane FMAs (12 chains per thread, enough to hide FMA latency), no memory
// traffic, for about `seconds`: the peak GFLOP/s of the FMA units.
ProbeResult measure_fma_peak(const Context& ctx, double seconds = 0.25);

// A sequential read of `bytes` (every thread sums its contiguous share with vector loads),
// repeated for about `seconds`: GB/s a weight stream can reach. `bytes` should be well
// beyond the last-level cache (the default, 512 MiB, is).
ProbeResult measure_read_bandwidth(const Context& ctx, size_t bytes = size_t{512} << 20,
                                   double seconds = 0.5);

}  // namespace qg::kernels
