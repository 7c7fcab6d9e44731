// ThreadPool implementation: spin-then-futex hand-off between one caller and a fixed
// set of workers. The wake-up protocol avoids a syscall per job when workers are
// still spinning: a worker announces itself in sleepers_ before it blocks, the caller
// only calls notify when sleepers_ > 0 (both sides use seq_cst, so at least one of
// them sees the other). The same pattern, mirrored, wakes a sleeping caller.
//
// The partition is static (slice s is always the s-th contiguous part of the range,
// a few slices per thread), but slices are claimed, not assigned: every participant,
// the caller included, takes the next unclaimed slice until none is left. On an idle
// machine the threads share the slices evenly; on a loaded one (CI, other processes)
// a worker that the OS has not scheduled, or has preempted, holds back at most the
// slice it is running, not the whole call.
#include "kernels/thread_pool.h"

#include <chrono>

#include "base/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QG_CPU_RELAX() _mm_pause()
#else
#define QG_CPU_RELAX() ((void)0)
#endif

namespace qg::kernels {
namespace {

// How long a thread spins before it sleeps. Kernel calls within a token come
// microseconds apart; a futex wake-up costs tens of microseconds in a VM.
constexpr auto kSpin = std::chrono::microseconds(100);

// Spins until pred() or until kSpin has passed; returns pred(). After the first few
// microseconds it yields between checks, so that when the machine has fewer free cores
// than threads (shared machines, 3 threads on 2 cores) the thread we wait for can run.
template <class Pred>
bool spin_until(Pred pred) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0;; ++i) {
    if (pred()) return true;
    if (i < 256) {
      QG_CPU_RELAX();
      continue;
    }
    std::this_thread::yield();
    if ((i & 15) == 0 && std::chrono::steady_clock::now() - start > kSpin) return pred();
  }
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads) {
  // 4 slices per thread must fit the 16-bit slice fields of state_.
  QG_CHECK(n_threads >= 1 && n_threads <= 1024, "thread count ", n_threads);
  scratch_.resize(n_threads);
  workers_.reserve(n_threads - 1);
  try {
    for (int t = 1; t < n_threads; ++t) workers_.emplace_back([this, t] { worker_main(t); });
  } catch (...) {
    // A thread that cannot start (EAGAIN: thread or memory limits) must not leave
    // joinable std::threads behind, whose destructors would call std::terminate:
    // stop and join the workers already running, then report the failure.
    stop_ = true;
    generation_.fetch_add(1, std::memory_order_seq_cst);
    generation_.notify_all();
    for (auto& w : workers_) w.join();
    throw;
  }
}

ThreadPool::~ThreadPool() {
  stop_ = true;
  generation_.fetch_add(1, std::memory_order_seq_cst);
  generation_.notify_all();
  for (auto& w : workers_) w.join();
}

float* ThreadPool::thread_scratch(int t, size_t n_floats) {
  std::vector<float>& buf = scratch_[t];
  constexpr size_t kAlignFloats = 16;  // 64 bytes
  if (buf.size() < n_floats + kAlignFloats) buf.resize(n_floats + kAlignFloats);
  const auto addr = reinterpret_cast<uintptr_t>(buf.data());
  const size_t skip = ((64 - addr % 64) % 64) / sizeof(float);
  return buf.data() + skip;
}

void ThreadPool::run_slice(int slice, int thread) {
  int64_t b = slice_begin(job_n_, slice, job_slices_);
  int64_t e = slice_begin(job_n_, slice + 1, job_slices_);
  if (b >= e) return;
  try {
    job_fn_(job_ctx_, b, e, thread);
  } catch (...) {
    if (!failed_.exchange(true)) error_ = std::current_exception();
  }
}

// state_ packs (job generation << 32) | (slice count << 16) | next unclaimed slice, so
// a claim checks the count of the same job it claims from: a stale worker that still
// holds the previous job's state can neither run a slice of it nor miscount the next.
void ThreadPool::run_claimed_slices(int thread) {
  uint64_t st = state_.load(std::memory_order_acquire);
  for (;;) {
    const uint32_t slice = static_cast<uint32_t>(st & 0xffff);
    const uint32_t n_slices = static_cast<uint32_t>((st >> 16) & 0xffff);
    if (slice >= n_slices) return;
    if (!state_.compare_exchange_weak(st, st + 1, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
      continue;  // st now holds the current state; try again
    }
    // The claim succeeded, so the job of this generation cannot finish (and its
    // parameters cannot be replaced) before this slice is done.
    run_slice(static_cast<int>(slice), thread);
    if (done_.fetch_add(1, std::memory_order_seq_cst) + 1 == static_cast<int32_t>(n_slices) &&
        caller_waiting_.load(std::memory_order_seq_cst)) {
      done_.notify_one();
    }
    st = state_.load(std::memory_order_acquire);
  }
}

void ThreadPool::worker_main(int thread) {
  uint32_t seen = 0;
  for (;;) {
    if (!spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; })) {
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      while (generation_.load(std::memory_order_seq_cst) == seen) generation_.wait(seen);
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_) return;
    run_claimed_slices(thread);
  }
}

void ThreadPool::run(int64_t n_tasks, int n_slices, RangeFn fn, void* ctx) {
  if (n_tasks <= 0) return;
  // One job at a time: a kernel that called parallel_for from inside a task (or two
  // threads sharing one Context) would corrupt the job state, so refuse it loudly.
  QG_CHECK(!busy_.exchange(true, std::memory_order_acquire),
           "ThreadPool::parallel_for called while a job is running (nested call or a "
           "Context shared between threads)");
  struct Release {
    std::atomic<bool>& flag;
    ~Release() { flag.store(false, std::memory_order_release); }
  } release{busy_};
  if (n_slices <= 1 || n_tasks == 1) {
    fn(ctx, 0, n_tasks, 0);
    return;
  }
  job_fn_ = fn;
  job_ctx_ = ctx;
  job_n_ = n_tasks;
  job_slices_ = n_slices;
  failed_.store(false, std::memory_order_relaxed);
  error_ = nullptr;
  done_.store(0, std::memory_order_relaxed);
  ++job_generation_;
  state_.store((job_generation_ << 32) | (static_cast<uint64_t>(n_slices) << 16),
               std::memory_order_release);              // slice 0 is next
  generation_.fetch_add(1, std::memory_order_seq_cst);  // wakes spinning workers
  if (sleepers_.load(std::memory_order_seq_cst) > 0) generation_.notify_all();

  run_claimed_slices(0);  // the caller works too, and takes over slices nobody started

  const auto all_done = [&] { return done_.load(std::memory_order_acquire) == n_slices; };
  if (!spin_until(all_done)) {
    caller_waiting_.store(true, std::memory_order_seq_cst);
    for (int32_t d; (d = done_.load(std::memory_order_seq_cst)) != n_slices;) done_.wait(d);
    caller_waiting_.store(false, std::memory_order_relaxed);
  }
  if (failed_.load(std::memory_order_acquire)) std::rethrow_exception(error_);
}

}  // namespace qg::kernels
