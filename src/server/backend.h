// What the routes call to run the model: admission (the bounded queue behind 429),
// cancellation, progress (behind /health), and moderation/generation through
// guard::Classifier.
//
// Today: one guard::Classifier (not thread-safe) behind one mutex, so requests run one
// at a time in arrival order while the HTTP threads parse, render, tokenize and write.
// When guard::Classifier runs on runtime::Engine (continuous batching), run() becomes
// a submit + wait on the engine and stats() reads EngineStats; the routes do not
// change. docs/server.md lists what is wired and what waits for the engine.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>

#include "guard/classifier.h"

namespace qg::server {

struct BackendConfig {
  guard::ClassifierConfig classifier;
  int64_t max_waiting = 256;      // admitted but not yet running; beyond it QueueFull (429)
  double queue_timeout_s = 120;   // longest wait for the model before QueueTimeout (503)
};

struct QueueFull : std::runtime_error {
  QueueFull() : std::runtime_error("the request queue is full") {}
};
struct QueueTimeout : std::runtime_error {
  QueueTimeout() : std::runtime_error("timed out waiting for the model") {}
};
struct Cancelled : std::runtime_error {
  Cancelled() : std::runtime_error("the client went away") {}
};

struct BackendStats {
  int64_t running = 0;  // sequences on the model now
  int64_t waiting = 0;  // admitted, waiting for the model
  int64_t completed = 0;
  double last_progress_age_s = 0;  // since the model last made progress (a token, a moderation)
  bool engine = false;             // false: the mutex backend (no KV pool, no batching)
};

class Backend {
 public:
  static std::unique_ptr<Backend> load(const BackendConfig& cfg);
  ~Backend();

  // A place in the queue. Taken before a response starts (so a full queue answers 429
  // at once, before any SSE headers), released when destroyed.
  class Ticket {
   public:
    Ticket(Ticket&& o) noexcept : b_(o.b_) { o.b_ = nullptr; }
    Ticket& operator=(Ticket&&) = delete;
    ~Ticket();

   private:
    friend class Backend;
    explicit Ticket(Backend* b) : b_(b) {}
    Backend* b_;
  };
  // Throws QueueFull.
  Ticket admit();

  // Runs one moderation or generation (thread-safe). `cancelled` is polled while
  // waiting and between tokens; throws Cancelled, QueueTimeout, or qg::Error for input
  // the model cannot take (too long for the context). queue_wait_ms: time spent
  // waiting for the model.
  guard::Result run(Ticket& t, const guard::Conversation& conv, guard::ClassifyOptions opt,
                    const std::function<bool()>& cancelled, double* queue_wait_ms);

  // Render + tokenize on the calling thread (HTTP threads; const and thread-safe).
  guard::Classifier::Prepared prepare(const guard::Conversation& conv) const { return clf_->prepare(conv); }
  const tok::Tokenizer& tokenizer() const { return clf_->tokenizer(); }
  int64_t ctx() const { return clf_->ctx(); }
  BackendStats stats() const;

 private:
  Backend() = default;
  void progress() { last_progress_ns_.store(now_ns(), std::memory_order_relaxed); }
  static int64_t now_ns();

  BackendConfig cfg_;
  std::unique_ptr<guard::Classifier> clf_;
  std::timed_mutex mu_;  // owns clf_'s decode state
  std::atomic<int64_t> admitted_{0}, running_{0}, completed_{0};
  std::atomic<int64_t> last_progress_ns_{0};
};

}  // namespace qg::server
