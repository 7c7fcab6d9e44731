// KvPool: block allocation, reference counts, the exact prefix cache and LRU eviction
// (see kv_pool.h for the scheme).
#include "runtime/kv_pool.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "base/error.h"

namespace qg::runtime {

void KvPool::FreeMem::operator()(void* p) const { std::free(p); }

int64_t KvPool::block_bytes(const model::Qwen3Config& cfg, DType dtype, int64_t block_tokens) {
  return 2 * cfg.num_hidden_layers * block_tokens * cfg.kv_dim() * static_cast<int64_t>(dtype_size(dtype));
}

int64_t KvPool::blocks_for_mb(const model::Qwen3Config& cfg, DType dtype, int64_t block_tokens, int64_t mb) {
  if (mb <= 0 || mb > (int64_t{1} << 30)) fail("--kv-cache-mb ", mb, ": expected 1 .. 2^30 MiB");
  const int64_t n = (mb << 20) / block_bytes(cfg, dtype, block_tokens);
  return std::max<int64_t>(n, 1);
}

KvPool::KvPool(const model::Qwen3Config& cfg, DType dtype, int64_t block_tokens, int64_t n_blocks,
               bool prefix_cache)
    : prefix_cache_(prefix_cache) {
  if (dtype != DType::kF32 && dtype != DType::kF16) fail("KV pool: dtype must be f32 or f16");
  if (block_tokens < 1 || block_tokens > 4096) fail("KV pool: block_tokens ", block_tokens, " not in 1..4096");
  if (n_blocks < 1 || n_blocks > (int64_t{1} << 30)) fail("KV pool: ", n_blocks, " blocks not in 1..2^30");
  storage_.n_layers = cfg.num_hidden_layers;
  storage_.n_blocks = n_blocks;
  storage_.block_tokens = block_tokens;
  storage_.block_stride = block_tokens * cfg.kv_dim();
  storage_.dtype = dtype;
  const auto elems = static_cast<size_t>(storage_.n_layers * n_blocks * storage_.block_stride);
  // calloc: pages are committed only when a block is first written, so a generous
  // pool costs memory only as far as it is used.
  k_mem_.reset(std::calloc(elems, dtype_size(dtype)));
  v_mem_.reset(std::calloc(elems, dtype_size(dtype)));
  if (!k_mem_ || !v_mem_) {
    fail("KV pool: cannot allocate ", 2 * elems * dtype_size(dtype), " bytes for ", n_blocks, " blocks");
  }
  storage_.k = k_mem_.get();
  storage_.v = v_mem_.get();
  meta_.resize(static_cast<size_t>(n_blocks));
  tokens_.resize(static_cast<size_t>(n_blocks * block_tokens));
  free_.reserve(static_cast<size_t>(n_blocks));
  // A stack popped from the back: block 0 first, and recently freed blocks (whose pages
  // are already committed) are reused before untouched ones.
  for (int64_t b = n_blocks - 1; b >= 0; --b) free_.push_back(static_cast<int32_t>(b));
}

KvPool::~KvPool() = default;

std::optional<int32_t> KvPool::allocate() {
  int32_t b;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else if (lru_head_ >= 0) {
    b = lru_head_;
    lru_remove(b);
    unregister(b);
    ++evictions_;
  } else {
    return std::nullopt;
  }
  meta_[static_cast<size_t>(b)].ref = 1;
  return b;
}

void KvPool::acquire(int32_t b) {
  Meta& m = meta_[static_cast<size_t>(b)];
  QG_CHECK(m.ref > 0 || m.gen != 0, "KvPool::acquire: block ", b, " is free");
  if (m.ref == 0) lru_remove(b);
  ++m.ref;
}

void KvPool::release(int32_t b) {
  Meta& m = meta_[static_cast<size_t>(b)];
  QG_CHECK(m.ref > 0, "KvPool::release: block ", b, " has no reference");
  if (--m.ref > 0) return;
  if (m.gen != 0) {
    lru_push_back(b);
  } else {
    free_.push_back(b);
  }
}

std::optional<int32_t> KvPool::make_writable(int32_t b) {
  if (writable(b)) return b;
  if (refs(b) == 1) {
    unregister(b);
    return b;
  }
  const std::optional<int32_t> copy = allocate();
  if (!copy) return std::nullopt;
  copy_block(b, *copy);
  ++copies_;
  release(b);
  return copy;
}

void KvPool::copy_block(int32_t src, int32_t dst) {
  const size_t bytes = static_cast<size_t>(storage_.block_stride) * dtype_size(storage_.dtype);
  for (int64_t l = 0; l < storage_.n_layers; ++l) {
    char* k = static_cast<char*>(storage_.k_layer(l));
    char* v = static_cast<char*>(storage_.v_layer(l));
    std::memcpy(k + static_cast<size_t>(dst) * bytes, k + static_cast<size_t>(src) * bytes, bytes);
    std::memcpy(v + static_cast<size_t>(dst) * bytes, v + static_cast<size_t>(src) * bytes, bytes);
  }
}

uint64_t KvPool::key_hash(uint64_t parent, std::span<const int32_t> tokens) {
  // splitmix64 finaliser over (parent, n, tokens): only selects candidates, which are
  // then compared exactly.
  auto mix = [](uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
  };
  uint64_t h = mix(parent ^ (static_cast<uint64_t>(tokens.size()) << 56));
  for (int32_t t : tokens) h = mix(h ^ static_cast<uint32_t>(t));
  return h;
}

bool KvPool::matches(int32_t b, uint64_t parent, std::span<const int32_t> tokens) const {
  const Meta& m = meta_[static_cast<size_t>(b)];
  if (m.gen == 0 || m.parent != parent || m.n_tokens != static_cast<int32_t>(tokens.size())) return false;
  const int32_t* have = tokens_.data() + static_cast<size_t>(b) * static_cast<size_t>(block_tokens());
  return std::equal(tokens.begin(), tokens.end(), have);
}

uint64_t KvPool::register_block(int32_t b, uint64_t parent, std::span<const int32_t> tokens) {
  QG_CHECK(!tokens.empty() && static_cast<int64_t>(tokens.size()) <= block_tokens(),
           "KvPool::register_block: ", tokens.size(), " tokens");
  if (!prefix_cache_) return next_gen_++;
  Meta& m = meta_[static_cast<size_t>(b)];
  QG_CHECK(m.ref > 0 && m.gen == 0, "KvPool::register_block: block ", b, " is not a held private block");
  const uint64_t h = key_hash(parent, tokens);
  for (auto [it, end] = index_.equal_range(h); it != end; ++it) {
    if (matches(it->second, parent, tokens)) return meta_[static_cast<size_t>(it->second)].gen;
  }
  m.gen = next_gen_++;
  m.parent = parent;
  m.n_tokens = static_cast<int32_t>(tokens.size());
  m.hash = h;
  std::copy(tokens.begin(), tokens.end(), tokens_.begin() + static_cast<int64_t>(b) * block_tokens());
  index_.emplace(h, b);
  return m.gen;
}

void KvPool::unregister(int32_t b) {
  Meta& m = meta_[static_cast<size_t>(b)];
  if (m.gen == 0) return;
  for (auto [it, end] = index_.equal_range(m.hash); it != end; ++it) {
    if (it->second == b) {
      index_.erase(it);
      break;
    }
  }
  m.gen = 0;
  m.n_tokens = 0;
}

std::optional<KvPool::Hit> KvPool::lookup(uint64_t parent, std::span<const int32_t> next) const {
  if (!prefix_cache_ || next.empty()) return std::nullopt;
  const auto n_max = std::min<int64_t>(static_cast<int64_t>(next.size()), block_tokens());
  for (int64_t k = n_max; k >= 1; --k) {
    const auto prefix = next.first(static_cast<size_t>(k));
    for (auto [it, end] = index_.equal_range(key_hash(parent, prefix)); it != end; ++it) {
      if (matches(it->second, parent, prefix)) {
        return Hit{it->second, meta_[static_cast<size_t>(it->second)].gen, k};
      }
    }
  }
  return std::nullopt;
}

void KvPool::lru_push_back(int32_t b) {
  Meta& m = meta_[static_cast<size_t>(b)];
  m.prev = lru_tail_;
  m.next = -1;
  if (lru_tail_ >= 0) {
    meta_[static_cast<size_t>(lru_tail_)].next = b;
  } else {
    lru_head_ = b;
  }
  lru_tail_ = b;
  ++n_lru_;
}

void KvPool::lru_remove(int32_t b) {
  Meta& m = meta_[static_cast<size_t>(b)];
  if (m.prev >= 0) {
    meta_[static_cast<size_t>(m.prev)].next = m.next;
  } else {
    lru_head_ = m.next;
  }
  if (m.next >= 0) {
    meta_[static_cast<size_t>(m.next)].prev = m.prev;
  } else {
    lru_tail_ = m.prev;
  }
  m.prev = m.next = -1;
  --n_lru_;
}

}  // namespace qg::runtime
