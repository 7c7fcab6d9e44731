// tokenizer/bpe: the byte-level BPE model (vocabulary, merge ranks, merging one word).
//
// A word is a byte string (one pre-token); its initial symbols are the vocabulary ids
// of the byte-level characters of its bytes, and merges are applied lowest rank first,
// leftmost first among equal ranks: exactly the order of Hugging Face's heap-based
// Word::merge_all (a stale heap entry there can never be applied, so the two agree).
// Knows nothing of JSON, normalisation or added tokens.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/string_id_map.h"

namespace qg::tok {

// Open-addressing hash map from a (left id, right id) pair to (rank, merged id).
class MergeTable {
 public:
  struct Entry {
    uint32_t rank;
    int32_t id;
  };
  void reserve(size_t n);
  // A later merge for the same pair replaces the earlier one (Hugging Face collects
  // the merges into a hash map, so the last occurrence wins).
  void insert(int32_t a, int32_t b, uint32_t rank, int32_t id);
  const Entry* find(int32_t a, int32_t b) const {
    const uint64_t key = pack(a, b);
    for (size_t i = slot(key);; i = (i + 1) & mask_) {
      if (keys_[i] == key) return &values_[i];
      if (keys_[i] == kEmpty) return nullptr;
    }
  }
  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static uint64_t pack(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  size_t slot(uint64_t key) const { return (key * 0x9E3779B97F4A7C15ull) >> shift_; }
  HugeVector<uint64_t> keys_;  // [capacity]
  HugeVector<Entry> values_;   // [capacity]
  size_t mask_ = 0, size_ = 0;
  int shift_ = 64;
};

struct BpeConfig {
  std::string unk_token;  // empty: none
  bool fuse_unk = false;
  bool ignore_merges = false;
};

class Bpe {
 public:
  // vocab: byte-level token string -> id. merges: pairs of byte-level strings, in rank
  // order. Throws qg::Error naming "/model/merges/<i>" for a merge whose parts or result
  // are not in the vocabulary (the loader prefixes the file name).
  Bpe(StringIdMap vocab,
      const std::vector<std::pair<std::string, std::string>>& merges, const BpeConfig& config);
  // Merges already resolved to ids (the fast loader), in rank order.
  Bpe(StringIdMap vocab, const HugeVector<MergeIds>& merges, const BpeConfig& config);
  ~Bpe();

  // Appends the ids of one word (raw bytes; the byte-level mapping is applied here).
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

  // Reference merge loop (heap-based, any length): the fast paths must equal it.
  void encode_word_heap(std::string_view word, std::vector<int32_t>& out) const;

  const StringIdMap& vocab() const { return vocab_; }
  const MergeTable& merges() const { return merges_; }

 private:
  size_t initial_symbols(std::string_view word, int32_t* syms) const;
  size_t merge_small(int32_t* syms, size_t n) const;  // n <= 64
  bool cache_lookup(std::string_view word, uint64_t hash, std::vector<int32_t>& out) const;
  void cache_store(std::string_view word, uint64_t hash, const int32_t* ids, size_t n) const;

  StringIdMap vocab_;
  MergeTable merges_;
  std::array<int32_t, 256> byte_id_{};  // id of each byte's byte-level character, -1 if none
  int32_t unk_id_ = -1;
  BpeConfig config_;

  // Bounded word cache shared by all threads: a direct-mapped table of 64-byte slots,
  // each guarded by a sequence counter (odd while written), holding words of at most
  // kCacheWordMax bytes that merge to at most kCacheIdsMax ids. Readers never block;
  // a torn read is detected by the counter and treated as a miss.
  static constexpr size_t kCacheSlots = 1 << 16;
  static constexpr size_t kCacheWordMax = 22;
  static constexpr size_t kCacheIdsMax = 6;
  struct alignas(64) CacheSlot {
    std::atomic<uint64_t> seq{0};
    std::atomic<uint64_t> data[7];  // [0]: hash, [1..3]: len byte + word, [4..6]: ids
  };
  mutable HugeVector<CacheSlot> cache_;  // [kCacheSlots]; mutable: a cache, synchronised per slot
};

}  // namespace qg::tok
