// tokenizer/string_id_map: the loader's large tables. HugePageAllocator (below) backs
// them with huge pages. StringIdMap: token string -> id, an open-addressing hash table whose keys
// live in one arena. Built once at load (151k tokens) and then read-only; lookups take a
// string_view and never allocate. std::unordered_map<std::string, int> costs a node and
// often a string allocation per token, and dominated tokenizer load time.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <vector>


namespace qg::tok {

// ---- HugePageAllocator -------------------------------------------------------------
// For the tokenizer's large tables (hash tables, word cache, per-code-point flags, decode
// buffers; ~20 MB in all): asks Linux for transparent huge pages. Measured on the 2-core
// CI VM: first-touching 64 MB of ordinary memory costs ~280 ms of page faults, with
// MADV_HUGEPAGE ~7 ms, and page faults were most of the tokenizer's load time. Small
// allocations use operator new.
template <typename T>
struct HugePageAllocator {
  using value_type = T;
  static constexpr size_t kThreshold = size_t{1} << 20;  // bytes; below: operator new

  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) {}

  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    if (bytes < kThreshold) return static_cast<T*>(::operator new(bytes, std::align_val_t{alignof(T)}));
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    ::madvise(p, bytes, MADV_HUGEPAGE);  // a hint: without THP it is ordinary memory
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) {
    const size_t bytes = n * sizeof(T);
    if (bytes < kThreshold) {
      ::operator delete(p, std::align_val_t{alignof(T)});
    } else {
      ::munmap(p, bytes);
    }
  }
  template <typename U>
  bool operator==(const HugePageAllocator<U>&) const { return true; }
};

template <typename T>
using HugeVector = std::vector<T, HugePageAllocator<T>>;
using HugeString = std::basic_string<char, std::char_traits<char>, HugePageAllocator<char>>;

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
