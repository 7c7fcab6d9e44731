// Backend on guard::Classifier + runtime::Engine (backend.h).
#include "server/backend.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "base/error.h"
#include "runtime/engine.h"

namespace qg::server {

std::unique_ptr<Backend> Backend::load(const BackendConfig& cfg) {
  std::unique_ptr<Backend> b(new Backend());
  b->cfg_ = cfg;
  b->clf_ = guard::Classifier::load(cfg.classifier);
  return b;
}

Backend::~Backend() = default;

Backend::Ticket::~Ticket() {
  if (b_) b_->admitted_.fetch_sub(1);
}

Backend::Ticket Backend::admit() {
  const int64_t cap = cfg_.max_waiting + std::max(1, cfg_.classifier.parallel);
  if (admitted_.fetch_add(1) >= cap) {
    admitted_.fetch_sub(1);
    throw QueueFull();
  }
  return Ticket(this);
}

namespace {

// Shared between the waiting HTTP thread and the engine-thread callbacks; owned by
// both (the engine may still call in after the waiter gave up).
struct Pending {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<TokenEvent> events;
  bool done = false;
  guard::Result result;
  std::exception_ptr error;
  std::atomic<bool> stop{false};
  std::optional<guard::Sampler> sampler;  // used on the engine thread only
};

}  // namespace

guard::Result Backend::run(Ticket& t, const guard::Conversation& conv, guard::ClassifyOptions opt,
                           const std::function<bool()>& cancelled, double* queue_wait_ms, const GenerateHooks* hooks) {
  using Clock = std::chrono::steady_clock;
  QG_CHECK(t.b_ == this, "ticket of another backend");
  const auto t0 = Clock::now();
  const auto deadline = t0 + std::chrono::duration<double>(cfg_.queue_timeout_s);
  auto st = std::make_shared<Pending>();
  if (hooks) {
    if (hooks->sampling && hooks->sampling->temperature > 0) {
      st->sampler.emplace(*hooks->sampling);
      opt.choose = [st](std::span<const float> l) { return st->sampler->sample(l); };
    }
    const bool lp = hooks->logprobs;
    const int k = hooks->top_logprobs;
    opt.on_token = [st, lp, k](int32_t id, std::span<const float> logits) {
      TokenEvent e;
      e.id = id;
      if (lp) {
        e.logprob = guard::log_softmax_at(logits, id);
        for (int32_t x : guard::top_ids(logits, k)) e.top.emplace_back(x, guard::log_softmax_at(logits, x));
      }
      {
        std::lock_guard<std::mutex> l(st->mu);
        st->events.push_back(std::move(e));
      }
      st->cv.notify_one();
      return !st->stop.load();
    };
  }
  guard::Classifier::SeqId id = 0;
  try {
    id = clf_->submit(conv, opt, [st](guard::Result&& r, std::exception_ptr e) {
      {
        std::lock_guard<std::mutex> l(st->mu);
        st->result = std::move(r);
        st->error = e;
        st->done = true;
      }
      st->cv.notify_one();
    });
  } catch (const runtime::QueueFull&) {
    throw QueueFull();
  }
  bool we_cancelled = false, timed_out = false;
  std::unique_lock<std::mutex> lock(st->mu);
  for (;;) {
    st->cv.wait_for(lock, std::chrono::milliseconds(20), [&] { return st->done || !st->events.empty(); });
    while (!st->events.empty()) {
      TokenEvent e = std::move(st->events.front());
      st->events.pop_front();
      if (hooks && hooks->on_token && !we_cancelled) {
        lock.unlock();
        const bool more = hooks->on_token(e);
        lock.lock();
        if (!more) st->stop = true;
      }
    }
    if (st->done) break;
    if (!we_cancelled && ((cancelled && cancelled()) || Clock::now() > deadline)) {
      timed_out = Clock::now() > deadline;
      we_cancelled = true;
      lock.unlock();
      clf_->cancel(id);
      lock.lock();
    }
  }
  if (we_cancelled) {
    if (timed_out) throw QueueTimeout();
    throw Cancelled();
  }
  if (st->error) {
    try {
      std::rethrow_exception(st->error);
    } catch (const runtime::Cancelled&) {
      throw std::runtime_error("the engine cancelled the request (shutting down)");
    }
  }
  guard::Result r = std::move(st->result);
  if (queue_wait_ms) {
    const double total = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    *queue_wait_ms = std::max(0.0, total - r.timings.prefill_ms - r.timings.decode_ms - r.timings.render_tokenize_ms);
  }
  return r;
}

BackendStats Backend::stats() const {
  const runtime::EngineStats e = clf_->engine().stats();
  BackendStats s;
  s.running = e.running;
  s.waiting = e.waiting + e.parked;
  s.admitted = admitted_.load();
  s.kv_blocks_total = e.kv_blocks_total;
  s.kv_blocks_used = e.kv_blocks_used;
  s.kv_blocks_cached = e.kv_blocks_cached;
  s.tokens_prefilled = e.tokens_prefilled;
  s.tokens_decoded = e.tokens_decoded;
  s.prefix_hit_tokens = e.prefix_hit_tokens;
  s.steps = e.steps;
  s.preemptions = e.preemptions;
  s.last_progress_age_s = e.last_progress_age_s;
  return s;
}

}  // namespace qg::server
