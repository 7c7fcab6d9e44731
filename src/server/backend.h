// What the routes call to run the model: admission (the bounded queue behind 429),
// cancellation, progress (behind /health), and moderation/generation through
// guard::Classifier, which runs every request as a GenDecoder on runtime::Engine
// (continuous batching over a paged KV pool with a prefix cache).
//
// Threads: run() is called on an HTTP thread; it submits, then waits. Generation hooks
// (sampling, per-token events) run on the engine thread but only copy what the
// caller needs into a queue; the caller's on_token runs back on the HTTP thread (it may
// write to a socket: never on the engine thread).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "guard/classifier.h"
#include "guard/sampler.h"

namespace qg::server {

struct BackendConfig {
  guard::ClassifierConfig classifier;  // with the engine's settings (parallel, KV pool)
  int64_t max_waiting = 256;           // admitted beyond the running ones; then QueueFull (429)
  double queue_timeout_s = 120;        // longest a request may take before QueueTimeout (503)
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
  int64_t running = 0, waiting = 0;  // sequences on the engine / queued there
  int64_t admitted = 0;              // requests holding a ticket (HTTP side)
  int64_t kv_blocks_total = 0, kv_blocks_used = 0, kv_blocks_cached = 0;
  int64_t tokens_prefilled = 0, tokens_decoded = 0, prefix_hit_tokens = 0;
  int64_t steps = 0, preemptions = 0;
  double last_progress_age_s = 0;  // engine: since the last step while work was pending
  // Qwen3Guard-Stream checkpoints only (stream == true): the session table.
  bool stream = false;
  int64_t sessions_open = 0, sessions_opened = 0, sessions_closed = 0, sessions_evicted = 0, sessions_failed = 0;
  int64_t stream_tokens_scored = 0;
};

// One generated token, as the chat route needs it (copied on the engine thread).
struct TokenEvent {
  int32_t id = 0;
  double logprob = 0;                          // log-softmax of the raw logits (logprobs only)
  std::vector<std::pair<int32_t, double>> top;  // top_logprobs alternatives, most likely first
};

struct GenerateHooks {
  std::optional<guard::SamplingParams> sampling;  // temperature > 0: sample, else greedy
  bool logprobs = false;
  int top_logprobs = 0;
  // On the calling thread; returning false ends the generation (stop string, client gone).
  std::function<bool(const TokenEvent&)> on_token;
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
  Ticket admit();  // throws QueueFull

  // Runs one moderation (hooks == nullptr) or generation (text mode with hooks) and
  // waits for it. `cancelled` is polled every 20 ms (a client that left: the sequence
  // is cancelled on the engine and its blocks freed). Throws Cancelled, QueueFull (the
  // engine's own queue), QueueTimeout, or qg::Error for input the model cannot take.
  // queue_wait_ms: wall time not spent in prefill or decode.
  guard::Result run(Ticket& t, const guard::Conversation& conv, guard::ClassifyOptions opt,
                    const std::function<bool()>& cancelled, double* queue_wait_ms,
                    const GenerateHooks* hooks = nullptr);

  // Render + tokenize on the calling thread (const, thread-safe).
  guard::Classifier::Prepared prepare(const guard::Conversation& conv) const { return clf_->prepare(conv); }
  const tok::Tokenizer& tokenizer() const { return clf_->tokenizer(); }
  int64_t ctx() const { return clf_->ctx(); }
  BackendStats stats() const;

 private:
  Backend() = default;
  BackendConfig cfg_;
  std::unique_ptr<guard::Classifier> clf_;
  std::atomic<int64_t> admitted_{0};
};

}  // namespace qg::server
