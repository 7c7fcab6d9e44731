// ThreadPool: every task runs exactly once for 1, 2 and 3 threads and any task count
// (including fewer tasks than threads), slices are contiguous and cover the range,
// exceptions reach the caller, and the pool survives many back-to-back jobs (the
// decode pattern) and idle gaps long enough for workers to fall asleep.
#include "kernels/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <vector>

#include "base/error.h"

namespace qg::kernels {
namespace {

TEST(ThreadPool, EveryTaskRunsExactlyOnce) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.n_threads(), threads);
    for (int64_t n : {0, 1, 2, 3, 4, 5, 17, 1000}) {
      std::vector<std::atomic<int>> hits(n);
      pool.parallel_for(n, [&](int64_t i) { hits[i].fetch_add(1); });
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(hits[i].load(), 1) << threads << "t n=" << n << " i=" << i;
    }
  }
}

TEST(ThreadPool, RangesAreContiguousSlicesOnDistinctParticipants) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 2, 10, 100}) {
      std::vector<int> hits(n, 0);
      std::vector<std::atomic<int>> running(threads);
      std::atomic<int> calls{0}, overlap{0};
      pool.parallel_ranges(n, [&](int64_t b, int64_t e, int t) {
        calls.fetch_add(1);
        ASSERT_GE(t, 0);
        ASSERT_LT(t, threads);
        if (running[t].fetch_add(1) != 0) overlap.fetch_add(1);  // two slices on one `t`
        ASSERT_LT(b, e) << "empty slices are skipped";
        for (int64_t i = b; i < e; ++i) hits[i]++;
        running[t].fetch_sub(1);
      });
      const int64_t max_slices = threads == 1 ? 1 : ThreadPool::kSlicesPerThread * threads;
      EXPECT_EQ(calls.load(), std::min(n, max_slices)) << threads << "t n=" << n;
      EXPECT_EQ(overlap.load(), 0) << "a participant index must never run two slices at once";
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i], 1) << i;
    }
  }
}

TEST(ThreadPool, UsesMoreThanOneThreadWhenAsked) {
  // The caller takes over slices nobody has started, so trivial slices may all run on
  // it; slices that take 50 ms leave the workers ample time to join in.
  ThreadPool pool(3);
  std::set<std::thread::id> ids;
  std::mutex mu;
  pool.parallel_ranges(3, [&](int64_t, int64_t, int) {
    {
      std::lock_guard<std::mutex> lock(mu);
      ids.insert(std::this_thread::get_id());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  });
  EXPECT_GE(ids.size(), 2u);
}

TEST(ThreadPool, EachSliceRunsOnceRightAfterStartup) {
  // Slices are claimed by whoever is free: right after construction the workers may
  // not be running yet, so the caller claims most slices. Whoever runs them, each must
  // run exactly once, and the pool must shut down cleanly straight after.
  for (int round = 0; round < 50; ++round) {
    ThreadPool pool(2);
    std::vector<std::atomic<int>> runs(8);
    pool.parallel_ranges(8, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) runs[i].fetch_add(1);
    });
    for (auto& r : runs) EXPECT_EQ(r.load(), 1);
  }
}

TEST(ThreadPool, ExceptionReachesCaller) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    EXPECT_THROW(pool.parallel_for(9,
                                   [](int64_t i) {
                                     if (i == 8) throw std::runtime_error("task 8");
                                   }),
                 std::runtime_error);
    // The pool still works afterwards.
    std::atomic<int> sum{0};
    pool.parallel_for(9, [&](int64_t i) { sum.fetch_add(static_cast<int>(i)); });
    EXPECT_EQ(sum.load(), 36);
  }
}

TEST(ThreadPool, ManyJobsAndSleepingWorkers) {
  ThreadPool pool(3);
  std::atomic<int64_t> sum{0};
  for (int job = 0; job < 5000; ++job)
    pool.parallel_for(3, [&](int64_t i) { sum.fetch_add(i + 1); });
  EXPECT_EQ(sum.load(), 5000 * 6);
  for (int round = 0; round < 3; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // workers go to sleep
    pool.parallel_for(3, [&](int64_t i) { sum.fetch_add(i + 1); });
  }
  EXPECT_EQ(sum.load(), 5003 * 6);
}

TEST(ThreadPool, GrainLimitsTheNumberOfSlices) {
  ThreadPool pool(3);
  struct Call {
    int64_t begin, end;
    int slice;
    std::thread::id thread;
  };
  for (auto [n, grain, want_slices] : {std::tuple{10, 100, 1},
                                       {10, 5, 2},
                                       {10, 4, 2},
                                       {10, 3, 3},
                                       {10, 1, 10},
                                       {100, 1, 12},
                                       {2, 1, 2}}) {
    std::vector<Call> calls;
    std::mutex mu;
    pool.parallel_ranges(
        n,
        [&](int64_t b, int64_t e, int t) {
          std::lock_guard<std::mutex> lock(mu);
          calls.push_back({b, e, t, std::this_thread::get_id()});
        },
        grain);
    ASSERT_EQ(static_cast<int>(calls.size()), want_slices) << "n=" << n << " grain=" << grain;
    int64_t covered = 0;
    for (const Call& c : calls) covered += c.end - c.begin;
    EXPECT_EQ(covered, n);
    if (want_slices == 1) {
      EXPECT_EQ(calls[0].thread, std::this_thread::get_id()) << "one slice runs inline";
      EXPECT_EQ(calls[0].slice, 0) << "the caller is participant 0";
    }
  }
}

TEST(ThreadPool, NestedCallIsAnErrorNotADeadlock) {
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    EXPECT_THROW(pool.parallel_for(2, [&](int64_t) { pool.parallel_for(2, [](int64_t) {}); }),
                 Error);
    std::atomic<int> ran{0};
    pool.parallel_for(4, [&](int64_t) { ran.fetch_add(1); });  // still usable
    EXPECT_EQ(ran.load(), 4);
  }
}

}  // namespace
}  // namespace qg::kernels
