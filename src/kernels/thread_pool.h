// A small persistent thread pool for the kernels: parallel_for over task indices with
// a static partition (thread t of T gets the t-th contiguous slice), the calling
// thread doing slice 0. It is called ~10 times per layer per token, so a call must
// cost a few microseconds, not a thread start: workers spin briefly after each job
// (the next one usually comes right away) and then sleep on a futex
// (std::atomic::wait). Not re-entrant: one parallel_for at a time per pool, issued
// from the thread that owns the pool (the Context's owner).
//
// Hand-written rather than OpenMP/TBB: the project must not depend on a runtime whose
// thread count and spin policy are global state, and two Contexts must coexist.
#pragma once

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
  template <class F>
  void parallel_for(int64_t n_tasks, F&& fn) {
    parallel_ranges(n_tasks, [&fn](int64_t begin, int64_t end, int) {
      for (int64_t i = begin; i < end; ++i) fn(i);
    });
  }

  // Calls fn(begin, end, thread) once per thread with that thread's slice of
  // [0, n_tasks) (possibly empty slices are skipped); `thread` in [0, n_threads()) lets
  // a kernel index per-thread scratch.
  template <class F>
  void parallel_ranges(int64_t n_tasks, F&& fn) {
    using Fn = std::remove_reference_t<F>;
    run(n_tasks,
        [](void* ctx, int64_t b, int64_t e, int t) { (*static_cast<Fn*>(ctx))(b, e, t); },
        const_cast<void*>(static_cast<const void*>(&fn)));
  }

  // The slice of [0, n_tasks) that thread t of n_threads() handles.
  static int64_t slice_begin(int64_t n_tasks, int t, int n_threads) {
    return n_tasks * t / n_threads;
  }

 private:
  using RangeFn = void (*)(void* ctx, int64_t begin, int64_t end, int thread);
  void run(int64_t n_tasks, RangeFn fn, void* ctx);
  void worker_main(int thread);
  void run_slice(int thread);

  int n_threads_;
  std::vector<std::thread> workers_;

  // The current job. Written by the caller before generation_ is bumped (release),
  // read by workers after they see the new generation (acquire).
  RangeFn job_fn_ = nullptr;
  void* job_ctx_ = nullptr;
  int64_t job_n_ = 0;
  bool stop_ = false;

  std::atomic<uint32_t> generation_{0};   // bumped once per job; workers wait on it
  std::atomic<int32_t> sleepers_{0};      // workers blocked in generation_.wait
  std::atomic<int32_t> pending_{0};       // workers still running the current job
  std::atomic<bool> caller_waiting_{false};
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;              // first exception of the current job
};

}  // namespace qg::kernels
