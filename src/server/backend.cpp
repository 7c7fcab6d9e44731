// The mutex backend (backend.h).
#include "server/backend.h"

#include "base/error.h"

namespace qg::server {

std::unique_ptr<Backend> Backend::load(const BackendConfig& cfg) {
  std::unique_ptr<Backend> b(new Backend());
  b->cfg_ = cfg;
  b->clf_ = guard::Classifier::load(cfg.classifier);
  b->progress();
  return b;
}

Backend::~Backend() = default;

int64_t Backend::now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Backend::Ticket::~Ticket() {
  if (b_) b_->admitted_.fetch_sub(1);
}

Backend::Ticket Backend::admit() {
  // admitted_ counts waiting and running; one running at a time in this backend.
  if (admitted_.fetch_add(1) >= cfg_.max_waiting + 1) {
    admitted_.fetch_sub(1);
    throw QueueFull();
  }
  return Ticket(this);
}

guard::Result Backend::run(Ticket& t, const guard::Conversation& conv, guard::ClassifyOptions opt,
                           const std::function<bool()>& cancelled, double* queue_wait_ms) {
  QG_CHECK(t.b_ == this, "ticket of another backend");
  const auto t0 = std::chrono::steady_clock::now();
  const auto deadline = t0 + std::chrono::duration<double>(cfg_.queue_timeout_s);
  std::unique_lock<std::timed_mutex> lock(mu_, std::defer_lock);
  // Poll in short slices so a client that leaves while queued frees its place.
  while (!lock.try_lock_for(std::chrono::milliseconds(20))) {
    if (cancelled && cancelled()) throw Cancelled();
    if (std::chrono::steady_clock::now() > deadline) throw QueueTimeout();
  }
  if (queue_wait_ms) *queue_wait_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (cancelled && cancelled()) throw Cancelled();
  running_.fetch_add(1);
  struct Done {
    Backend* b;
    ~Done() {
      b->running_.fetch_sub(1);
      b->completed_.fetch_add(1);
      b->progress();
    }
  } done{this};
  bool gone = false;
  auto user_on_token = std::move(opt.on_token);
  opt.on_token = [&](int32_t tok, std::span<const float> logits) {
    progress();
    if (cancelled && cancelled()) {
      gone = true;
      return false;
    }
    return user_on_token ? user_on_token(tok, logits) : true;
  };
  guard::Result r = clf_->classify(conv, opt);
  if (gone) throw Cancelled();
  return r;
}

BackendStats Backend::stats() const {
  BackendStats s;
  s.running = running_.load();
  s.waiting = std::max<int64_t>(0, admitted_.load() - s.running);
  s.completed = completed_.load();
  s.last_progress_age_s = static_cast<double>(now_ns() - last_progress_ns_.load()) * 1e-9;
  return s;
}

}  // namespace qg::server
