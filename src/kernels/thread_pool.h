// A small persistent thread pool for the kernels: parallel_for over task indices with
// a static partition (T contiguous slices for T threads), the calling thread taking
// part. It is called ~10 times per layer per token, so a call must
// cost a few microseconds, not a thread start: workers spin briefly after each job
// (the next one usually comes right away) and then sleep on a futex
// (std::atomic::wait). Not re-entrant: one parallel_for at a time per pool, issued
// from the thread that owns the pool (the Context's owner).
//
// Hand-written rather than OpenMP/TBB: the project must not depend on a runtime whose
// thread count and spin policy are global state, and two Contexts must coexist.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <thread>
#include <type_traits>
#include <vector>

namespace qg::kernels {

class ThreadPool {
 public:
  // n_threads >= 1 participants: the caller plus n_threads - 1 worker threads.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int n_threads() const { return n_threads_; }

  // Calls fn(i) once for every i in [0, n_tasks), spread over the threads; returns when
  // all calls are done. An exception thrown by fn is rethrown here (the first one).
  // `grain`: the fewest tasks worth a slice of their own; work of fewer than 2·grain
  // tasks runs on the calling thread without waking anyone (a wake-up costs more than
  // a decode-sized norm).
  template <class F>
  void parallel_for(int64_t n_tasks, F&& fn, int64_t grain = 1) {
    parallel_ranges(
        n_tasks,
        [&fn](int64_t begin, int64_t end, int) {
          for (int64_t i = begin; i < end; ++i) fn(i);
        },
        grain);
  }

  // Splits [0, n_tasks) into S = min(kSlicesPerThread · n_threads(), n_tasks / grain)
  // (at least 1) contiguous slices and calls fn(begin, end, thread) once per non-empty
  // slice. `thread` in [0, n_threads()) names the participant running the slice (0 is
  // the caller); no two slices run on the same participant at once, so it can index
  // per-thread scratch without locks.
  template <class F>
  void parallel_ranges(int64_t n_tasks, F&& fn, int64_t grain = 1) {
    using Fn = std::remove_reference_t<F>;
    const int64_t by_grain = grain > 1 ? n_tasks / grain : n_tasks;
    const int n_slices =
        n_threads_ == 1
            ? 1
            : static_cast<int>(std::clamp<int64_t>(by_grain, 1, kSlicesPerThread * n_threads_));
    run(
        n_tasks, n_slices,
        [](void* ctx, int64_t b, int64_t e, int t) { (*static_cast<Fn*>(ctx))(b, e, t); },
        const_cast<void*>(static_cast<const void*>(&fn)));
  }

  // Slices per thread: more than one, so that when the OS deschedules a worker in the
  // middle of a call (a loaded machine), only a small slice waits for it while the
  // others are claimed by whoever runs.
  static constexpr int kSlicesPerThread = 4;

  // A 64-byte-aligned buffer of at least n_floats floats that belongs to participant t
  // of this pool (contents are not kept when it grows). For kernels that need
  // per-thread working memory whose size the caller cannot know (e.g. a repacked K/V
  // head). Call it only with your own `thread` inside a parallel_ranges call. It grows to the
  // largest size asked for and is then reused, so steady-state calls allocate nothing.
  float* thread_scratch(int t, size_t n_floats);

  // Where slice t of n_slices starts in [0, n_tasks).
  static int64_t slice_begin(int64_t n_tasks, int t, int n_slices) {
    return n_tasks * t / n_slices;
  }

 private:
  using RangeFn = void (*)(void* ctx, int64_t begin, int64_t end, int thread);
  void run(int64_t n_tasks, int n_slices, RangeFn fn, void* ctx);
  void worker_main(int thread);
  void run_claimed_slices(
      int thread);  // claims and runs slices of the current job until none is left
  void run_slice(int slice, int thread);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::vector<std::vector<float>> scratch_;  // [n_threads_][...], see thread_scratch

  // The current job. Written by the caller before generation_ is bumped (release),
  // read by workers after they see the new generation (acquire).
  RangeFn job_fn_ = nullptr;
  void* job_ctx_ = nullptr;
  int64_t job_n_ = 0;
  int job_slices_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> busy_{false};  // a job is running (guards against nested calls)

  uint64_t job_generation_ = 0;          // caller-side count of jobs
  std::atomic<uint64_t> state_{0};       // generation, slice count, next slice (see .cpp)
  std::atomic<uint32_t> generation_{0};  // bumped once per job; idle workers wait on it
  std::atomic<int32_t> sleepers_{0};     // workers blocked in generation_.wait
  std::atomic<int32_t> done_{0};         // slices of the current job finished
  std::atomic<bool> caller_waiting_{false};
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;  // first exception of the current job
};

}  // namespace qg::kernels
