// CONTRACT HEADER (written first so guard/, server/ and Qwen3Guard-Stream can code
// against it; the engine work implements it and may add to it).
//
// runtime/: owns time and memory across requests — one engine thread that owns the
// model's forward calls, the paged KV block pool with its prefix cache, and the
// scheduler (continuous batching). Text-free and Qwen3Guard-free: what a sequence
// feeds and what it does with the outputs is its SequenceDriver's business (guard/
// implements the Gen decoder and the Stream session as drivers).
//
// Life of a sequence: submit(driver) -> the engine thread calls driver.next(feed) ->
// feeds it (prefix-cache hits skip already-computed full blocks; long prefills are
// chunked under the per-step token budget, together with other sequences' tokens, in
// one model::forward per step) -> driver.consume(outputs) -> next(...) again, until
// next() says kDone (or kWait: parked with its KV kept until wake()). finish() is called
// exactly once, with the error if it failed (cancelled, can never fit, forward error).
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <span>
#include <vector>

#include <string>

#include "base/dtype.h"
#include "base/error.h"

namespace qg::model {
class Qwen3Model;
}
namespace qg::kernels {
class Context;
}

namespace qg::runtime {

struct EngineConfig {
  int threads = 0;                   // kernel threads (<= 0: QG_THREADS, else all cores)
  DType kv_dtype = DType::kF32;      // --kv-dtype f32|f16
  int64_t kv_cache_mb = 0;           // --kv-cache-mb: KV pool size (0: default, documented)
  int64_t block_tokens = 16;         // positions per KV block
  int64_t step_tokens = 512;         // per-step token budget (decode tokens + prefill chunks)
  int max_running = 16;              // --parallel: sequences scheduled together
  int64_t max_waiting = 4096;        // submitted but not yet running; beyond it submit() throws QueueFull
  bool prefix_cache = true;          // share full blocks by the hash chain of their tokens
  // ---- Additions beyond the contract ----
  std::string isa;                   // "scalar" | "avx2"; empty: QG_FORCE_ISA, else the best supported
  int64_t kv_blocks = 0;             // > 0: exact pool size in blocks (tests), overrides kv_cache_mb
};

// kv_cache_mb = 0 means this many MiB (the pool's pages are committed only when used).
constexpr int64_t kDefaultKvCacheMb = 1024;

// What a sequence feeds next, and which outputs it wants back.
struct Feed {
  std::vector<int32_t> tokens;          // appended at the sequence's next positions (non-empty)
  std::vector<int32_t> out_positions;   // indices into `tokens` (ascending) where outputs are wanted
  bool want_logits = false;
  std::vector<int32_t> vocab_rows;      // logits only for these rows (empty: full vocabulary)
  bool want_hidden = false;             // final normed hidden states (Stream heads)
};

// The outputs of one Feed, valid during consume() only.
struct FeedOutput {
  std::span<const float> logits;  // [out_positions.size(), n_rows]
  std::span<const float> hidden;  // [out_positions.size(), hidden_size]
  int64_t cached_tokens = 0;      // of this feed's tokens, how many came from the prefix cache
};

enum class Next : uint8_t { kFeed, kWait, kDone };

// A sequence's decoding logic as resumable state. Called on the engine thread only.
class SequenceDriver {
 public:
  virtual ~SequenceDriver() = default;
  // kFeed: `feed` is filled; kWait: park (KV kept) until Engine::wake; kDone: finished.
  virtual Next next(Feed& feed) = 0;
  virtual void consume(const FeedOutput& out) = 0;
  // Exactly once, last: nullptr on success, else why the sequence ended.
  virtual void finish(std::exception_ptr error) noexcept = 0;
};

// The error a cancelled sequence's finish() receives (cancel(), or the engine's destructor).
class Cancelled : public qg::Error {
 public:
  Cancelled() : qg::Error("the sequence was cancelled") {}
};

// Thrown by submit() when the waiting queue is full (the server answers 429).
struct QueueFull : std::exception {
  const char* what() const noexcept override { return "the engine's queue is full"; }
};

struct EngineStats {
  int64_t running = 0, waiting = 0, parked = 0;
  int64_t kv_blocks_total = 0, kv_blocks_used = 0, kv_blocks_cached = 0;  // cached: unreferenced, reusable
  // Positions computed for each sequence's first feed (prefilled) and later feeds (decoded);
  // positions served by the prefix cache instead of being computed.
  int64_t tokens_prefilled = 0, tokens_decoded = 0, prefix_hit_tokens = 0;
  int64_t steps = 0;
  // ---- Additions beyond the contract ----
  int64_t finished = 0, failed = 0;  // sequences ended ok / with an error (cancellations included)
  int64_t preemptions = 0;           // sequences whose blocks were taken back to unblock the pool
  int64_t evictions = 0;             // cached blocks evicted for new ones
  int64_t cow_copies = 0;            // shared partial blocks copied before a write
  int64_t kv_block_tokens = 0;       // positions per block
  double last_progress_age_s = 0;    // seconds since the engine last finished a step while work was pending
};

class Engine {
 public:
  using SeqId = uint64_t;
  // Starts the engine thread. The model must outlive the engine. Throws qg::Error on a bad
  // configuration (before any thread starts). Never destroy an engine from its own drivers.
  Engine(const model::Qwen3Model& model, const EngineConfig& cfg);
  ~Engine();  // cancels everything not finished, joins the thread
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Thread-safe. Throws QueueFull, or qg::Error when the engine is stopping.
  SeqId submit(std::unique_ptr<SequenceDriver> driver);
  // Thread-safe, idempotent: a running, waiting or parked sequence ends with a
  // Cancelled error and its blocks go back to the pool.
  void cancel(SeqId id);
  // Thread-safe: a parked sequence is scheduled again (its driver's next() is called).
  void wake(SeqId id);
  EngineStats stats() const;  // thread-safe snapshot
  const model::Qwen3Model& model() const;
  const EngineConfig& config() const;
  // Most positions one sequence may ever hold (the pool size, and the model's context).
  int64_t max_sequence_tokens() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace qg::runtime
