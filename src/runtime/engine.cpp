// runtime::Engine: the thread-safe front of the Scheduler. Callers on any thread put
// submissions, cancellations and wakes into an inbox under one mutex; the engine thread
// drains the inbox, runs one scheduler step, publishes a stats snapshot, and sleeps on a
// condition variable when there is nothing to do. Drivers are called on the engine
// thread only, never with the mutex held (a driver may call submit/wake/cancel).
#include "runtime/engine.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include "runtime/scheduler.h"

namespace qg::runtime {

struct Engine::Impl {
  Impl(const model::Qwen3Model& m, const EngineConfig& c) : model(m), cfg(c), sched(m, c) {}

  void run();

  const model::Qwen3Model& model;
  const EngineConfig cfg;
  Scheduler sched;  // engine thread only (after construction)

  mutable std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<SeqId, std::unique_ptr<SequenceDriver>>> submits;  // guarded by mu
  std::vector<SeqId> cancels, wakes;                                       // guarded by mu
  bool stopping = false;                                                   // guarded by mu
  SeqId next_id = 1;                                                       // guarded by mu
  int64_t sched_waiting = 0;     // guarded by mu: the scheduler's queue at the last step
  EngineStats snapshot;          // guarded by mu
  std::chrono::steady_clock::time_point last_progress;  // guarded by mu
  std::thread thread;
};

void Engine::Impl::run() {
  std::vector<std::pair<SeqId, std::unique_ptr<SequenceDriver>>> new_seqs;
  std::vector<SeqId> new_cancels, new_wakes;
  bool had_work = false;
  for (;;) {
    bool stop = false;
    {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return stopping || !submits.empty() || !cancels.empty() || !wakes.empty() || sched.has_work(); });
      new_seqs.swap(submits);
      new_cancels.swap(cancels);
      new_wakes.swap(wakes);
      stop = stopping;
      if (!had_work) last_progress = std::chrono::steady_clock::now();
    }
    // Submissions first, so a cancel right after a submit finds its sequence.
    for (auto& [id, d] : new_seqs) sched.add(id, std::move(d));
    for (SeqId id : new_cancels) sched.cancel(id);
    for (SeqId id : new_wakes) sched.wake(id);
    new_seqs.clear();
    new_cancels.clear();
    new_wakes.clear();
    if (stop) {
      sched.cancel_all();
      std::lock_guard lk(mu);
      sched.fill_stats(snapshot);
      return;
    }
    if (sched.has_work()) {
      try {
        sched.step();
      } catch (...) {
        // Not from a driver or a forward (those end their sequences inside step): the
        // scheduler's own state may be half-updated, so every sequence ends with the error
        // and nothing of theirs enters the prefix cache; the engine itself goes on.
        sched.fail_all(std::current_exception(), false);
      }
    }
    had_work = sched.has_work();
    std::lock_guard lk(mu);
    sched.fill_stats(snapshot);
    sched_waiting = sched.n_waiting();
    last_progress = std::chrono::steady_clock::now();
  }
}

Engine::Engine(const model::Qwen3Model& model, const EngineConfig& cfg)
    : impl_(std::make_unique<Impl>(model, cfg)) {
  impl_->sched.fill_stats(impl_->snapshot);
  impl_->thread = std::thread([this] { impl_->run(); });
}

Engine::~Engine() {
  {
    std::lock_guard lk(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  impl_->thread.join();
  // Submissions that arrived after the thread's last look at the inbox.
  for (auto& [id, d] : impl_->submits) d->finish(std::make_exception_ptr(Cancelled()));
}

Engine::SeqId Engine::submit(std::unique_ptr<SequenceDriver> driver) {
  QG_CHECK(driver != nullptr, "Engine::submit: no driver");
  SeqId id;
  {
    std::lock_guard lk(impl_->mu);
    if (impl_->stopping) fail("engine: stopping, no new sequences");
    if (impl_->sched_waiting + static_cast<int64_t>(impl_->submits.size()) >= impl_->cfg.max_waiting) {
      throw QueueFull();
    }
    id = impl_->next_id++;
    impl_->submits.emplace_back(id, std::move(driver));
  }
  impl_->cv.notify_one();
  return id;
}

void Engine::cancel(SeqId id) {
  {
    std::lock_guard lk(impl_->mu);
    impl_->cancels.push_back(id);
  }
  impl_->cv.notify_one();
}

void Engine::wake(SeqId id) {
  {
    std::lock_guard lk(impl_->mu);
    impl_->wakes.push_back(id);
  }
  impl_->cv.notify_one();
}

EngineStats Engine::stats() const {
  std::lock_guard lk(impl_->mu);
  EngineStats s = impl_->snapshot;
  s.waiting += static_cast<int64_t>(impl_->submits.size());
  if (s.running + s.waiting > 0) {
    s.last_progress_age_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - impl_->last_progress).count();
  }
  return s;
}

const model::Qwen3Model& Engine::model() const { return impl_->model; }
const EngineConfig& Engine::config() const { return impl_->cfg; }
int64_t Engine::max_sequence_tokens() const { return impl_->sched.max_sequence_tokens(); }

}  // namespace qg::runtime
