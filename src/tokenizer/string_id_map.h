// tokenizer/string_id_map: token string -> id, an open-addressing hash table whose keys
// live in one arena. Built once at load (151k tokens) and then read-only; lookups take a
// string_view and never allocate. std::unordered_map<std::string, int> costs a node and
// often a string allocation per token, and dominated tokenizer load time.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/huge_alloc.h"

namespace qg::tok {

// One merge resolved to ids: left + right -> merged (all vocabulary ids).
struct MergeIds {
  int32_t left, right, merged;
  bool operator==(const MergeIds&) const = default;
};

class StringIdMap {
 public:
  void reserve(size_t n) { rehash(capacity_for(n)); }
  size_t size() const { return size_; }

  // Inserts or replaces (a later duplicate wins, as in a JSON object read by serde).
  void set(std::string_view key, int32_t id) { set(key, id, hash(key)); }
  void set(std::string_view key, int32_t id, uint64_t h) {
    if (3 * (size_ + 1) > 2 * slots_.size()) rehash(capacity_for(2 * size_ + 16));
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.id < 0) {
        s = {static_cast<uint32_t>(h >> 32), static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(key.size()), id};
        arena_.append(key);
        ++size_;
        return;
      }
      if (s.hash == static_cast<uint32_t>(h >> 32) && view(s) == key) {
        s.id = id;
        return;
      }
    }
  }

  // Id of key, or -1.
  int32_t find(std::string_view key) const { return find(key, hash(key)); }
  int32_t find(std::string_view key, uint64_t h) const {
    if (slots_.empty()) return -1;
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.id < 0) return -1;
      if (s.hash == static_cast<uint32_t>(h >> 32) && view(s) == key) return s.id;
    }
  }

  // Batched loads compute hashes first and prefetch the slots: on a busy VM one cache
  // miss costs ~200 ns, and the loader does ~600k lookups.
  void prefetch(uint64_t h) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[h & mask_]);
  }

  static uint64_t hash_of(std::string_view s) { return hash(s); }

  // Calls f(key, id) for every entry.
  template <typename F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_) {
      if (s.id >= 0) f(view(s), s.id);
    }
  }

 private:
  struct Slot {
    uint32_t hash;  // high half of the 64-bit hash
    uint32_t offset, len;
    int32_t id;  // -1: empty
  };

  // Load factor at most 2/3: a smaller table misses the cache less while loading.
  static size_t capacity_for(size_t n) {
    size_t cap = 16;
    while (2 * cap < 3 * n) cap <<= 1;
    return cap;
  }

  // FNV-1a over 8-byte words, then a final mix: fast for short tokens, good enough spread.
  static uint64_t hash(std::string_view s) {  // public: batched callers hash first
    uint64_t h = 0xcbf29ce484222325ull ^ s.size();
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      h = (h ^ w) * 0x100000001b3ull;
      h ^= h >> 29;
    }
    uint64_t tail = 0;
    std::memcpy(&tail, s.data() + i, s.size() - i);
    h = (h ^ tail) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 31);
  }

  std::string_view view(const Slot& s) const { return std::string_view(arena_.data() + s.offset, s.len); }

  void rehash(size_t cap) {
    HugeVector<Slot> old = std::move(slots_);
    slots_.assign(cap, Slot{0, 0, 0, -1});
    mask_ = cap - 1;
    for (const Slot& s : old) {
      if (s.id < 0) continue;
      const uint64_t h = hash(view(s));
      size_t i = h & mask_;
      while (slots_[i].id >= 0) i = (i + 1) & mask_;
      slots_[i] = s;
    }
  }

  HugeString arena_;
  HugeVector<Slot> slots_;
  size_t mask_ = 0, size_ = 0;
};

}  // namespace qg::tok
