// Scheduler: continuous batching over the KV pool (the step is described in
// scheduler.h). Everything here runs on the engine thread.
#include "runtime/scheduler.h"

#include <algorithm>

#include "base/error.h"

namespace qg::runtime {

namespace {

constexpr int64_t kDecodeTokens = 16;  // feeds this short are scheduled before prefills

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

kernels::Context make_context(const EngineConfig& cfg) {
  if (cfg.isa.empty()) return kernels::Context(cfg.threads);
  return kernels::Context(cfg.threads, kernels::parse_isa(cfg.isa, "engine isa"));
}

int64_t pool_blocks(const model::Qwen3Config& c, const EngineConfig& cfg) {
  if (cfg.block_tokens < 1 || cfg.block_tokens > 4096) fail("engine: block_tokens ", cfg.block_tokens, " not in 1..4096");
  if (cfg.step_tokens < 1) fail("engine: step_tokens must be positive, got ", cfg.step_tokens);
  if (cfg.max_running < 1) fail("engine: max_running (--parallel) must be positive, got ", cfg.max_running);
  if (cfg.max_waiting < 1) fail("engine: max_waiting must be positive, got ", cfg.max_waiting);
  if (cfg.kv_blocks > 0) return cfg.kv_blocks;
  return KvPool::blocks_for_mb(c, cfg.kv_dtype, cfg.block_tokens,
                               cfg.kv_cache_mb > 0 ? cfg.kv_cache_mb : kDefaultKvCacheMb);
}

}  // namespace

// The pool is built in the member initialiser from the config; the Context first (its
// constructor validates the ISA), so a bad configuration throws before any thread exists.
Scheduler::Scheduler(const model::Qwen3Model& model, const EngineConfig& cfg)
    : model_(model),
      cfg_(cfg),
      ctx_(make_context(cfg)),
      pool_(model.config(), cfg.kv_dtype, cfg.block_tokens, pool_blocks(model.config(), cfg), cfg.prefix_cache) {
  max_seq_tokens_ = std::min<int64_t>(pool_.n_blocks() * pool_.block_tokens(),
                                      model.config().max_position_embeddings);
}

void Scheduler::add(Engine::SeqId id, std::unique_ptr<SequenceDriver> driver) {
  auto s = std::make_unique<Seq>();
  s->id = id;
  s->driver = std::move(driver);
  waiting_.push_back(s.get());
  seqs_.emplace(id, std::move(s));
}

void Scheduler::cancel(Engine::SeqId id) {
  auto it = seqs_.find(id);
  if (it != seqs_.end()) end(*it->second, std::make_exception_ptr(Cancelled()));
}

void Scheduler::wake(Engine::SeqId id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return;
  Seq& s = *it->second;
  if (s.state == Seq::State::kParked) {
    s.state = Seq::State::kRunning;
    --n_parked_;
    running_.push_back(&s);
  } else {
    s.wake_pending = true;
  }
}

void Scheduler::cancel_all() { fail_all(std::make_exception_ptr(Cancelled()), true); }

void Scheduler::fail_all(std::exception_ptr err, bool keep_tails) {
  while (!seqs_.empty()) end(*seqs_.begin()->second, err, keep_tails);
}

bool Scheduler::has_work() const {
  return !running_.empty() || (!waiting_.empty() && static_cast<int>(running_.size()) < cfg_.max_running);
}

void Scheduler::fill_stats(EngineStats& st) const {
  st = totals_;
  st.running = static_cast<int64_t>(running_.size());
  st.waiting = static_cast<int64_t>(waiting_.size());
  st.parked = n_parked_;
  st.kv_blocks_total = pool_.n_blocks();
  st.kv_blocks_used = pool_.n_used();
  st.kv_blocks_cached = pool_.n_cached();
  st.evictions = pool_.evictions();
  st.cow_copies = pool_.copies();
  st.kv_block_tokens = pool_.block_tokens();
}

void Scheduler::admit() {
  while (!waiting_.empty() && static_cast<int>(running_.size()) < cfg_.max_running) {
    Seq* s = waiting_.front();
    if (s->preempted) {
      // Back only when all its positions fit in the blocks nobody holds now; otherwise
      // it would take blocks back from the sequences it was preempted for.
      const int64_t need = std::min(ceil_div(static_cast<int64_t>(s->tokens.size()), pool_.block_tokens()),
                                    pool_.n_blocks());
      if (!running_.empty() && pool_.n_available() < need) break;
      s->preempted = false;
    } else {
      s->order = next_order_++;
    }
    waiting_.pop_front();
    s->state = Seq::State::kRunning;
    running_.push_back(s);
  }
}

void Scheduler::end(Seq& s, std::exception_ptr err, bool keep_tail) {
  release_blocks(s, keep_tail);
  if (s.state == Seq::State::kWaiting) {
    std::erase(waiting_, &s);
  } else if (s.state == Seq::State::kParked) {
    --n_parked_;
  } else {
    std::erase(running_, &s);
  }
  ++(err ? totals_.failed : totals_.finished);
  std::unique_ptr<Seq> owned = std::move(seqs_.at(s.id));
  seqs_.erase(s.id);
  owned->driver->finish(err);
}

void Scheduler::release_blocks(Seq& s, bool keep_tail) {
  const int64_t bt = pool_.block_tokens();
  const int64_t tail = s.n_computed % bt;
  // A partly filled last block is offered to the prefix cache (the next turn of a
  // conversation extends exactly this prefix); only content known to be valid.
  if (keep_tail && tail != 0 && !s.blocks.empty() && pool_.writable(s.blocks.back())) {
    const auto i = static_cast<int64_t>(s.blocks.size()) - 1;
    if (i == static_cast<int64_t>(s.chain.size())) {
      pool_.register_block(s.blocks.back(), i == 0 ? 0 : s.chain[i - 1],
                           std::span<const int32_t>(s.tokens).subspan(i * bt, tail));
    }
  }
  // Last block first, so that the LRU evicts a sequence's tail before its shared head.
  for (auto it = s.blocks.rbegin(); it != s.blocks.rend(); ++it) pool_.release(*it);
  s.blocks.clear();
  s.chain.clear();
  s.n_computed = 0;
}

bool Scheduler::poll_driver(Seq& s) {
  Feed f;
  Next nx;
  try {
    nx = s.driver->next(f);
  } catch (...) {
    end(s, std::current_exception());
    return false;
  }
  switch (nx) {
    case Next::kDone:
      end(s, nullptr);
      return false;
    case Next::kWait:
      if (s.wake_pending) {  // the wake for this wait already came: ask again next step
        s.wake_pending = false;
        return true;
      }
      s.state = Seq::State::kParked;
      ++n_parked_;
      std::erase(running_, &s);
      return false;
    case Next::kFeed:
      break;
  }
  return start_feed(s, std::move(f));
}

bool Scheduler::start_feed(Seq& s, Feed&& f) {
  const model::Qwen3Config& c = model_.config();
  try {
    const auto n = static_cast<int64_t>(f.tokens.size());
    if (n == 0) fail("engine: a feed has no tokens");
    for (int64_t i = 0; i < n; ++i) {
      if (f.tokens[i] < 0 || f.tokens[i] >= c.vocab_size) {
        fail("engine: token id ", f.tokens[i], " at index ", i, " of a feed is outside the vocabulary [0, ",
             c.vocab_size, ")");
      }
    }
    for (size_t j = 0; j < f.out_positions.size(); ++j) {
      const int32_t p = f.out_positions[j];
      if (p < 0 || p >= n || (j > 0 && p <= f.out_positions[j - 1])) {
        fail("engine: output positions must be ascending indices into the feed's ", n, " tokens (index ", j,
             " is ", p, ")");
      }
    }
    if (f.want_logits) {
      for (int32_t r : f.vocab_rows) {
        if (r < 0 || r >= c.vocab_size) fail("engine: vocab row ", r, " is outside the vocabulary [0, ", c.vocab_size, ")");
      }
    }
    const auto total = static_cast<int64_t>(s.tokens.size()) + n;
    if (total > max_seq_tokens_) {
      const int64_t bt = pool_.block_tokens();
      fail("engine: a sequence of ", total, " positions (", ceil_div(total, bt), " KV blocks of ", bt,
           ") can never fit: the KV pool holds ", pool_.n_blocks(), " blocks (", pool_.n_blocks() * bt,
           " positions, ", KvPool::block_bytes(c, pool_.storage().dtype, bt) * pool_.n_blocks() >> 20,
           " MiB; raise --kv-cache-mb) and the model's context is ", c.max_position_embeddings, " positions");
    }
  } catch (...) {
    end(s, std::current_exception());
    return false;
  }
  s.feed = std::move(f);
  s.feed_start = static_cast<int64_t>(s.tokens.size());
  s.tokens.insert(s.tokens.end(), s.feed.tokens.begin(), s.feed.tokens.end());
  s.feed_cached = 0;
  const auto n_out = static_cast<int64_t>(s.feed.out_positions.size());
  s.n_rows = s.feed.vocab_rows.empty() ? c.vocab_size : static_cast<int64_t>(s.feed.vocab_rows.size());
  s.logits.resize(s.feed.want_logits ? static_cast<size_t>(n_out * s.n_rows) : 0);
  s.hidden.resize(s.feed.want_hidden ? static_cast<size_t>(n_out * c.hidden_size) : 0);
  s.has_feed = true;
  ++s.n_feeds;
  return true;
}

int64_t Scheduler::first_wanted_output(const Seq& s) const {
  if (s.feed.want_logits || s.feed.want_hidden) {
    for (int32_t p : s.feed.out_positions) {
      if (s.feed_start + p >= s.n_computed) return s.feed_start + p;
    }
  }
  return static_cast<int64_t>(s.tokens.size());
}

void Scheduler::prefix_lookup(Seq& s) {
  const int64_t bt = pool_.block_tokens();
  const int64_t cap = first_wanted_output(s);  // this position and later ones must be computed
  const std::span<const int32_t> toks(s.tokens);
  while (s.n_computed % bt == 0 && s.n_computed < cap) {
    const int64_t i = s.n_computed / bt;
    const int64_t avail = std::min<int64_t>(bt, static_cast<int64_t>(toks.size()) - s.n_computed);
    const auto hit = pool_.lookup(i == 0 ? 0 : s.chain[i - 1], toks.subspan(s.n_computed, avail));
    if (!hit) break;
    const int64_t u = std::min(hit->n_tokens, cap - s.n_computed);
    pool_.acquire(hit->block);
    s.blocks.push_back(hit->block);
    s.feed_cached += std::max<int64_t>(0, s.n_computed + u - std::max(s.n_computed, s.feed_start));
    totals_.prefix_hit_tokens += u;
    s.n_computed += u;
    if (u < bt) break;  // a partial block: the next write copies or takes it
    s.chain.push_back(hit->gen);
  }
}

bool Scheduler::schedule(Seq& s, int64_t& budget) {
  s.step_n = 0;
  const int64_t bt = pool_.block_tokens();
  const int64_t pending = static_cast<int64_t>(s.tokens.size()) - s.n_computed;
  int64_t c = std::min(pending, budget);
  if (c <= 0) return true;
  int64_t room = 0;  // free positions in the last block
  if (s.n_computed % bt != 0) {
    const std::optional<int32_t> w = pool_.make_writable(s.blocks.back());
    if (!w) return false;
    s.blocks.back() = *w;
    room = static_cast<int64_t>(s.blocks.size()) * bt - s.n_computed;
  }
  int64_t need = ceil_div(std::max<int64_t>(0, c - room), bt);
  if (need > pool_.n_available()) {
    need = pool_.n_available();
    c = room + need * bt;
  }
  if (c <= 0) return false;
  for (int64_t i = 0; i < need; ++i) s.blocks.push_back(*pool_.allocate());
  s.step_n = c;
  budget -= c;

  s.step_out.clear();
  int64_t j0 = -1;
  if (s.feed.want_logits || s.feed.want_hidden) {
    for (size_t j = 0; j < s.feed.out_positions.size(); ++j) {
      const int64_t rel = s.feed_start + s.feed.out_positions[j] - s.n_computed;
      if (rel >= 0 && rel < c) {
        if (j0 < 0) j0 = static_cast<int64_t>(j);
        s.step_out.push_back(static_cast<int32_t>(rel));
      }
    }
  }
  model::SeqStep st;
  st.tokens = std::span<const int32_t>(s.tokens).subspan(s.n_computed, c);
  st.pos0 = s.n_computed;
  st.blocks = s.blocks;
  st.out_positions = s.step_out;
  const auto m = static_cast<int64_t>(s.step_out.size());
  if (m > 0) {
    st.want_logits = s.feed.want_logits;
    st.vocab_rows = s.feed.vocab_rows;
    if (st.want_logits) st.logits = std::span<float>(s.logits).subspan(j0 * s.n_rows, m * s.n_rows);
    st.want_hidden = s.feed.want_hidden;
    const int64_t H = model_.config().hidden_size;
    if (st.want_hidden) st.hidden = std::span<float>(s.hidden).subspan(j0 * H, m * H);
  }
  batch_.push_back(st);
  batch_seqs_.push_back(&s);
  return true;
}

bool Scheduler::preempt_one() {
  Seq* victim = nullptr;
  for (auto& [id, p] : seqs_) {
    Seq* s = p.get();
    if (s->blocks.empty()) continue;
    const bool parked = s->state == Seq::State::kParked;
    const bool vparked = victim != nullptr && victim->state == Seq::State::kParked;
    if (victim == nullptr || (parked && !vparked) || (parked == vparked && s->order > victim->order)) victim = s;
  }
  if (victim == nullptr) return false;
  release_blocks(*victim, true);
  if (victim->state == Seq::State::kRunning) {
    // Back to the head of the queue, keeping its arrival order (first come, first served).
    std::erase(running_, victim);
    victim->state = Seq::State::kWaiting;
    victim->preempted = true;
    waiting_.push_front(victim);
  }
  ++totals_.preemptions;
  return true;
}

void Scheduler::complete_feed(Seq& s) {
  s.has_feed = false;
  FeedOutput out;
  out.logits = s.logits;
  out.hidden = s.hidden;
  out.cached_tokens = s.feed_cached;
  try {
    s.driver->consume(out);
  } catch (...) {
    end(s, std::current_exception());
  }
}

void Scheduler::after_forward(Seq& s) {
  const int64_t bt = pool_.block_tokens();
  s.n_computed += s.step_n;
  (s.n_feeds <= 1 ? totals_.tokens_prefilled : totals_.tokens_decoded) += s.step_n;
  const std::span<const int32_t> toks(s.tokens);
  for (auto i = static_cast<int64_t>(s.chain.size()); (i + 1) * bt <= s.n_computed; ++i) {
    s.chain.push_back(pool_.register_block(s.blocks[i], i == 0 ? 0 : s.chain[i - 1], toks.subspan(i * bt, bt)));
  }
  if (s.n_computed == static_cast<int64_t>(s.tokens.size())) complete_feed(s);
}

void Scheduler::step() {
  admit();
  // 1. Ask every running sequence without a feed for its next one.
  for (Seq* s : std::vector<Seq*>(running_)) {
    if (!s->has_feed) poll_driver(*s);
  }
  // 2. Decode-sized feeds first, then prefills, each group in admission order.
  std::vector<Seq*> order;
  for (Seq* s : running_) {
    if (s->has_feed) order.push_back(s);
  }
  auto small = [](const Seq* s) {
    return static_cast<int64_t>(s->tokens.size()) - s->n_computed <= kDecodeTokens;
  };
  std::stable_sort(order.begin(), order.end(), [&](const Seq* a, const Seq* b) {
    if (small(a) != small(b)) return small(a);
    return a->order < b->order;
  });
  batch_.clear();
  batch_seqs_.clear();
  std::vector<Seq*> from_cache;  // feeds the prefix cache served entirely
  for (size_t attempt = 0; attempt <= seqs_.size(); ++attempt) {
    int64_t budget = cfg_.step_tokens;
    bool blocked = false;
    // Every lookup before any write: sequences arriving together with the same cached
    // partial block all share it (the first writer copies it, the last takes it over).
    for (Seq* s : order) prefix_lookup(*s);
    for (Seq* s : order) {
      if (std::find(from_cache.begin(), from_cache.end(), s) != from_cache.end()) continue;
      if (s->n_computed == static_cast<int64_t>(s->tokens.size())) {
        from_cache.push_back(s);
      } else if (!schedule(*s, budget)) {
        blocked = true;
      }
    }
    if (!batch_.empty() || !blocked || !preempt_one()) break;
    std::erase_if(order, [](const Seq* s) { return s->state != Seq::State::kRunning; });
  }
  // 3. One forward over every scheduled sequence.
  if (!batch_.empty()) {
    bool ok = true;
    try {
      model::forward(ctx_, model_, pool_.storage(), batch_, scratch_);
    } catch (...) {
      ok = false;
      const std::exception_ptr err = std::current_exception();
      // Their new blocks hold partial writes: freed, never offered to the prefix cache.
      for (Seq* s : batch_seqs_) end(*s, err, /*keep_tail=*/false);
    }
    ++totals_.steps;
    // 4. Register full blocks, hand finished feeds to their drivers.
    if (ok) {
      for (Seq* s : batch_seqs_) after_forward(*s);
    }
  }
  for (Seq* s : from_cache) complete_feed(*s);
  batch_.clear();
  batch_seqs_.clear();
}

}  // namespace qg::runtime
