// tokenizer/bpe: merge ranks, the per-word merge loops and the shared word cache.
#include "tokenizer/bpe.h"

#include <algorithm>
#include <cstring>
#include <queue>

#include "base/error.h"
#include "tokenizer/pre_tokenizer.h"

namespace qg::tok {

// ---- MergeTable ---------------------------------------------------------------------

void MergeTable::reserve(size_t n) {
  size_t cap = 16;
  int bits = 4;
  while (2 * cap < 3 * n) {
    cap <<= 1;
    ++bits;
  }
  keys_.assign(cap, kEmpty);
  values_.assign(cap, Entry{0, 0});
  mask_ = cap - 1;
  shift_ = 64 - bits;
  size_ = 0;
}

void MergeTable::insert(int32_t a, int32_t b, uint32_t rank, int32_t id) {
  if (3 * (size_ + 1) > 2 * keys_.size()) {
    // Grow: rehash everything into a table twice as large.
    HugeVector<uint64_t> old_keys = std::move(keys_);
    HugeVector<Entry> old_values = std::move(values_);
    reserve(std::max<size_t>(16, old_keys.size()));
    for (size_t i = 0; i < old_keys.size(); ++i) {
      if (old_keys[i] == kEmpty) continue;
      insert(static_cast<int32_t>(old_keys[i] >> 32), static_cast<int32_t>(old_keys[i] & 0xFFFFFFFFu),
             old_values[i].rank, old_values[i].id);
    }
  }
  const uint64_t key = pack(a, b);
  for (size_t i = slot(key);; i = (i + 1) & mask_) {
    if (keys_[i] == key) {
      values_[i] = Entry{rank, id};
      return;
    }
    if (keys_[i] == kEmpty) {
      keys_[i] = key;
      values_[i] = Entry{rank, id};
      ++size_;
      return;
    }
  }
}

// ---- Bpe ----------------------------------------------------------------------------

Bpe::Bpe(StringIdMap vocab, const HugeVector<MergeIds>& merges, const BpeConfig& config)
    : Bpe(std::move(vocab), std::vector<std::pair<std::string, std::string>>{}, config) {
  merges_.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    merges_.insert(merges[i].left, merges[i].right, static_cast<uint32_t>(i), merges[i].merged);
  }
}

Bpe::Bpe(StringIdMap vocab,
         const std::vector<std::pair<std::string, std::string>>& merges, const BpeConfig& config)
    : vocab_(std::move(vocab)), config_(config), cache_(kCacheSlots) {
  const ByteLevel& bl = ByteLevel::get();
  for (int b = 0; b < 256; ++b) {
    byte_id_[b] = vocab_.find(bl.byte_to_string(static_cast<uint8_t>(b)));
  }
  if (!config_.unk_token.empty()) {
    unk_id_ = vocab_.find(config_.unk_token);
    if (unk_id_ < 0) fail("/model/unk_token: '", config_.unk_token, "' is not in the vocabulary");
  }
  merges_.reserve(merges.size());
  std::string joined;
  for (size_t i = 0; i < merges.size(); ++i) {
    const auto& [a, b] = merges[i];
    const int32_t ia = vocab_.find(a);
    if (ia < 0) fail("/model/merges/", i, ": '", a, "' is not in the vocabulary");
    const int32_t ib = vocab_.find(b);
    if (ib < 0) fail("/model/merges/", i, ": '", b, "' is not in the vocabulary");
    joined.assign(a).append(b);
    const int32_t ij = vocab_.find(joined);
    if (ij < 0) fail("/model/merges/", i, ": the merged token '", joined, "' is not in the vocabulary");
    merges_.insert(ia, ib, static_cast<uint32_t>(i), ij);
  }
}

Bpe::~Bpe() = default;

// Hugging Face's merge_word: each byte-level character becomes its vocabulary id; an
// unknown one becomes the unk token (consecutive ones fused if fuse_unk) or, without an
// unk token, is dropped. With ByteLevel every byte is in the Qwen vocabulary.
// syms has room for word.size() ids; returns how many were written.
size_t Bpe::initial_symbols(std::string_view word, int32_t* syms) const {
  size_t n = 0;
  bool pending_unk = false;
  for (unsigned char b : word) {
    const int32_t id = byte_id_[b];
    if (id >= 0) {
      if (pending_unk) syms[n++] = unk_id_;
      pending_unk = false;
      syms[n++] = id;
    } else if (unk_id_ >= 0) {
      if (pending_unk && !config_.fuse_unk) syms[n++] = unk_id_;
      pending_unk = true;
    }
  }
  if (pending_unk) syms[n++] = unk_id_;
  return n;
}

// Short words: keep the rank of every adjacent pair, repeatedly merge the lowest
// (leftmost on ties) and refresh only the two pairs next to the merge. O(n^2) compares,
// but n is small and everything stays in one cache line or two.
size_t Bpe::merge_small(int32_t* syms, size_t n) const {
  if (n < 2) return n;
  constexpr uint32_t kNone = ~uint32_t{0};
  uint32_t ranks[64];
  int32_t merged[64];
  for (size_t i = 0; i + 1 < n; ++i) {
    const MergeTable::Entry* e = merges_.find(syms[i], syms[i + 1]);
    ranks[i] = e ? e->rank : kNone;
    merged[i] = e ? e->id : 0;
  }
  for (;;) {
    size_t best = 0;
    uint32_t best_rank = kNone;
    for (size_t i = 0; i + 1 < n; ++i) {
      if (ranks[i] < best_rank) {
        best_rank = ranks[i];
        best = i;
      }
    }
    if (best_rank == kNone) break;
    syms[best] = merged[best];
    std::memmove(&syms[best + 1], &syms[best + 2], (n - best - 2) * sizeof(int32_t));
    std::memmove(&ranks[best], &ranks[best + 1], (n - best - 2) * sizeof(uint32_t));
    std::memmove(&merged[best], &merged[best + 1], (n - best - 2) * sizeof(int32_t));
    --n;
    auto refresh = [&](size_t i) {
      const MergeTable::Entry* e = merges_.find(syms[i], syms[i + 1]);
      ranks[i] = e ? e->rank : kNone;
      merged[i] = e ? e->id : 0;
    };
    if (best > 0) refresh(best - 1);
    if (best + 1 < n) refresh(best);
  }
  return n;
}

void Bpe::encode_word_heap(std::string_view word, std::vector<int32_t>& out) const {
  std::vector<int32_t> ids(word.size());
  const size_t n = initial_symbols(word, ids.data());
  // Doubly linked symbols; alive[i] false once merged into its left neighbour.
  std::vector<int32_t> prev(n), next(n);
  std::vector<char> alive(n, 1);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int32_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
  }
  struct Item {
    uint32_t rank;
    int32_t pos;
    int32_t id;
    bool operator>(const Item& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> heap;
  for (size_t i = 0; i + 1 < n; ++i) {
    if (const MergeTable::Entry* e = merges_.find(ids[i], ids[i + 1])) {
      heap.push({e->rank, static_cast<int32_t>(i), e->id});
    }
  }
  while (!heap.empty()) {
    const Item top = heap.top();
    heap.pop();
    const int32_t p = top.pos;
    if (!alive[p] || next[p] < 0) continue;
    const int32_t q = next[p];
    const MergeTable::Entry* e = merges_.find(ids[p], ids[q]);
    if (!e || e->id != top.id) continue;  // stale entry
    ids[p] = top.id;
    alive[q] = 0;
    next[p] = next[q];
    if (next[q] >= 0) prev[next[q]] = p;
    if (prev[p] >= 0) {
      if (const MergeTable::Entry* l = merges_.find(ids[prev[p]], ids[p])) {
        heap.push({l->rank, prev[p], l->id});
      }
    }
    if (next[p] >= 0) {
      if (const MergeTable::Entry* r = merges_.find(ids[p], ids[next[p]])) {
        heap.push({r->rank, p, r->id});
      }
    }
  }
  for (int32_t i = n ? 0 : -1; i >= 0; i = next[i]) out.push_back(ids[i]);
}

namespace {

// The word packed into three little-endian words (length in the first byte) and a hash.
struct PackedWord {
  uint64_t w[3];
  uint64_t hash;
};

inline PackedWord pack_word(std::string_view word) {
  unsigned char buf[24] = {};
  buf[0] = static_cast<unsigned char>(word.size());
  std::memcpy(buf + 1, word.data(), word.size());
  PackedWord p;
  std::memcpy(p.w, buf, 24);
  uint64_t h = p.w[0] * 0x9E3779B97F4A7C15ull;
  h = (h ^ (h >> 29) ^ p.w[1]) * 0xBF58476D1CE4E5B9ull;
  h = (h ^ (h >> 31) ^ p.w[2]) * 0x94D049BB133111EBull;
  p.hash = h ^ (h >> 32);
  return p;
}

}  // namespace

bool Bpe::cache_lookup(std::string_view word, uint64_t hash, std::vector<int32_t>& out) const {
  const PackedWord p = pack_word(word);
  const CacheSlot& s = cache_[hash & (kCacheSlots - 1)];
  const uint64_t seq = s.seq.load(std::memory_order_acquire);
  if (seq & 1) return false;
  uint64_t d[7];
  for (int i = 0; i < 7; ++i) d[i] = s.data[i].load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  if (s.seq.load(std::memory_order_relaxed) != seq || seq == 0) return false;
  if (d[0] != hash || d[1] != p.w[0] || d[2] != p.w[1] ||
      (d[3] & 0x00FFFFFFFFFFFFFFull) != p.w[2]) {
    return false;
  }
  const size_t n_ids = d[3] >> 56;
  int32_t ids[kCacheIdsMax];
  std::memcpy(ids, &d[4], sizeof(ids));
  out.insert(out.end(), ids, ids + n_ids);
  return true;
}

void Bpe::cache_store(std::string_view word, uint64_t hash, const int32_t* ids, size_t n) const {
  const PackedWord p = pack_word(word);
  CacheSlot& s = cache_[hash & (kCacheSlots - 1)];
  uint64_t seq = s.seq.load(std::memory_order_relaxed);
  if ((seq & 1) || !s.seq.compare_exchange_strong(seq, seq + 1, std::memory_order_acquire)) {
    return;  // another thread is writing this slot: skip, it is only a cache
  }
  uint64_t d[7] = {hash, p.w[0], p.w[1], p.w[2] | (static_cast<uint64_t>(n) << 56), 0, 0, 0};
  std::memcpy(&d[4], ids, n * sizeof(int32_t));
  for (int i = 0; i < 7; ++i) s.data[i].store(d[i], std::memory_order_relaxed);
  s.seq.store(seq + 2, std::memory_order_release);
}

void Bpe::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (config_.ignore_merges) {
    if (const int32_t id = vocab_.find(ByteLevel::get().encode(word)); id >= 0) {
      out.push_back(id);
      return;
    }
  }
  if (word.size() == 1 && byte_id_[static_cast<unsigned char>(word[0])] >= 0) {
    out.push_back(byte_id_[static_cast<unsigned char>(word[0])]);
    return;
  }
  const bool cacheable = word.size() <= kCacheWordMax;
  uint64_t hash = 0;
  if (cacheable) {
    hash = pack_word(word).hash;
    if (cache_lookup(word, hash, out)) return;
  }
  if (word.size() > 64) {
    encode_word_heap(word, out);
    return;
  }
  int32_t syms[64];
  const size_t n = merge_small(syms, initial_symbols(word, syms));
  if (cacheable && n <= kCacheIdsMax) cache_store(word, hash, syms, n);
  out.insert(out.end(), syms, syms + n);
}

}  // namespace qg::tok
