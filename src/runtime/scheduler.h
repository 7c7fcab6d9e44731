// Scheduler: the engine thread's state and one step of continuous batching. Internal to
// runtime/ (engine.cpp owns the thread, the inbox and the locking; everything here runs
// on the engine thread only, so nothing here locks).
//
// One step:
//   1. admit waiting sequences up to max_running; ask every running sequence without a
//      pending feed for its next one (driver.next); validate it (a bad feed, or one
//      that can never fit the pool, ends that sequence only);
//   2. per running sequence, decode-sized feeds first, then prefills in arrival order:
//      skip positions found in the prefix cache (never the first position whose output
//      is wanted), make the block being written private (copy-on-write), allocate new
//      blocks, and take as many tokens as the step's token budget and the free blocks
//      allow; a sequence that gets no block waits; if nobody at all could run, the
//      youngest sequence holding blocks is preempted (blocks released, its tokens are
//      recomputed later — bitwise the same, since the forward is batch-invariant);
//   3. one model::forward over all of them;
//   4. register blocks that became full in the prefix cache, hand finished feeds'
//      outputs to driver.consume.
// A forward that throws fails the sequences of that step (their newly written blocks
// are private and go back to the free list, never into the prefix cache); all other
// sequences are untouched.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <vector>

#include "kernels/kernels.h"
#include "model/forward.h"
#include "model/qwen3.h"
#include "runtime/engine.h"
#include "runtime/kv_pool.h"

namespace qg::runtime {

struct Seq {
  enum class State : uint8_t { kWaiting, kRunning, kParked };
  Engine::SeqId id = 0;
  std::unique_ptr<SequenceDriver> driver;
  State state = State::kWaiting;
  uint64_t order = 0;               // admission order (preemption picks the youngest)
  std::vector<int32_t> tokens;      // every position: computed ones, then the current feed's rest
  int64_t n_computed = 0;           // positions whose K/V are in `blocks`
  std::vector<int32_t> blocks;      // block table: ceil(n_computed / block_tokens) blocks between steps
  std::vector<uint64_t> chain;      // content id of each full block (the prefix-cache hash chain)
  bool preempted = false;           // in the waiting queue after a preemption (its tokens are kept)
  bool wake_pending = false;        // wake() arrived while not parked: the next kWait returns at once
  int64_t n_feeds = 0;
  // The current feed.
  bool has_feed = false;
  Feed feed;
  int64_t feed_start = 0;           // index into `tokens` of the feed's first token
  int64_t feed_cached = 0;          // of the feed's tokens, how many came from the prefix cache
  int64_t n_rows = 0;               // logit rows per output position
  std::vector<float> logits;        // [feed.out_positions.size(), n_rows]
  std::vector<float> hidden;        // [feed.out_positions.size(), H]
  // This step.
  int64_t step_n = 0;               // tokens scheduled
  std::vector<int32_t> step_out;    // their output positions, relative to n_computed
};

class Scheduler {
 public:
  Scheduler(const model::Qwen3Model& model, const EngineConfig& cfg);

  void add(Engine::SeqId id, std::unique_ptr<SequenceDriver> driver);
  void cancel(Engine::SeqId id);
  void wake(Engine::SeqId id);
  void cancel_all();
  // Ends every sequence with err (the engine's last resort when a step throws outside the
  // places that fail single sequences, e.g. out of memory).
  void fail_all(std::exception_ptr err, bool keep_tails);
  bool has_work() const;  // anything a step would do
  void step();
  void fill_stats(EngineStats& s) const;
  int64_t n_waiting() const { return static_cast<int64_t>(waiting_.size()); }
  int64_t max_sequence_tokens() const { return max_seq_tokens_; }
  const kernels::Context& context() const { return ctx_; }

 private:
  void admit();
  bool poll_driver(Seq& s);             // false: the sequence ended or parked
  bool start_feed(Seq& s, Feed&& f);    // validates; false: the sequence failed
  void prefix_lookup(Seq& s);
  bool schedule(Seq& s, int64_t& budget);  // false: it needed blocks and got none
  void after_forward(Seq& s);
  bool preempt_one();
  void release_blocks(Seq& s, bool keep_tail);
  void complete_feed(Seq& s);           // consume() the finished feed's outputs
  // finish(err) + erase. keep_tail: the last partial block's content is valid (cache it).
  void end(Seq& s, std::exception_ptr err, bool keep_tail = true);
  int64_t first_wanted_output(const Seq& s) const;  // absolute position; tokens.size() if none

  const model::Qwen3Model& model_;
  EngineConfig cfg_;
  kernels::Context ctx_;
  KvPool pool_;
  model::ForwardScratch scratch_;
  int64_t max_seq_tokens_;
  std::map<Engine::SeqId, std::unique_ptr<Seq>> seqs_;
  std::deque<Seq*> waiting_;
  std::vector<Seq*> running_;           // in admission order
  std::vector<model::SeqStep> batch_;
  std::vector<Seq*> batch_seqs_;
  uint64_t next_order_ = 0;
  int64_t n_parked_ = 0;
  EngineStats totals_;
};

}  // namespace qg::runtime
