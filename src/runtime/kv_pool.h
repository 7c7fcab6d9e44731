// KvPool: the engine's paged KV memory. A fixed number of blocks, each holding
// `block_tokens` positions of every layer's K and V (model::KvStorage layout), handed
// out to sequences through their block tables. Blocks are reference-counted; a prefix
// cache finds blocks again by their content; unreferenced cached blocks are evicted in
// LRU order only when a fresh block is needed.
//
// Prefix cache (vLLM's automatic prefix caching, made exact): a block's content is
// identified by (parent, tokens) where `parent` is the content id ("gen") of the block
// before it in the sequence (0 for the first block) and `tokens` are the positions it
// holds. Every registration gets a new, never reused 64-bit gen, and lookups compare the
// stored parent gen and tokens (the hash only picks candidates), so a hit is exactly the
// same token prefix — no hash collision can ever hand a sequence someone else's keys.
// Full blocks are registered when they fill; a sequence's partially filled last block
// is registered when the sequence releases it (a later request extending the same
// prefix, e.g. the next turn of a conversation, reuses it).
//
// Write rule (copy-on-write): a sequence writes only into a block it holds alone and
// that is not registered. A shared block is copied first; a registered block held only
// by the writer is unregistered ("stolen"), which needs no extra block.
//
// Single-threaded: owned by the engine thread. Knows no model, only shapes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/dtype.h"
#include "model/config.h"
#include "model/forward.h"

namespace qg::runtime {

class KvPool {
 public:
  // n_blocks blocks of block_tokens positions for cfg's layers and kv heads.
  KvPool(const model::Qwen3Config& cfg, DType dtype, int64_t block_tokens, int64_t n_blocks,
         bool prefix_cache);
  ~KvPool();
  KvPool(const KvPool&) = delete;
  KvPool& operator=(const KvPool&) = delete;

  // Bytes of K+V one block takes, and how many blocks `mb` MiB hold (at least 1).
  static int64_t block_bytes(const model::Qwen3Config& cfg, DType dtype, int64_t block_tokens);
  static int64_t blocks_for_mb(const model::Qwen3Config& cfg, DType dtype, int64_t block_tokens, int64_t mb);

  const model::KvStorage& storage() const { return storage_; }
  int64_t n_blocks() const { return storage_.n_blocks; }
  int64_t block_tokens() const { return storage_.block_tokens; }
  int64_t n_available() const { return static_cast<int64_t>(free_.size()) + n_lru_; }  // allocatable now
  int64_t n_cached() const { return n_lru_; }  // unreferenced but registered (reusable, evictable)
  int64_t n_used() const { return n_blocks() - n_available(); }  // referenced by some sequence
  int64_t evictions() const { return evictions_; }
  int64_t copies() const { return copies_; }  // copy-on-write copies made

  // A fresh private block (ref 1): from the free list, else the least recently used
  // cached block is evicted. nullopt when every block is referenced.
  std::optional<int32_t> allocate();
  void acquire(int32_t b);  // +1 reference (a prefix-cache hit, a fork); revives a cached block
  void release(int32_t b);  // -1 reference; at 0 a registered block is cached (LRU), else freed
  int32_t refs(int32_t b) const { return meta_[static_cast<size_t>(b)].ref; }
  bool registered(int32_t b) const { return meta_[static_cast<size_t>(b)].gen != 0; }
  // May the holder write into b? (held alone and not registered)
  bool writable(int32_t b) const { return refs(b) == 1 && !registered(b); }
  // Makes b writable for a holder: unregisters it when held alone, else copies it into a
  // fresh block (one reference moves from b to the copy). Returns the block to write into,
  // or nullopt when a copy is needed and no block is available (b is then unchanged).
  std::optional<int32_t> make_writable(int32_t b);

  // Content id of `tokens` (1..block_tokens positions) following `parent` held by block
  // b. Registers b when the content is new; when the same content is already registered
  // elsewhere, b stays private and the existing id is returned (equal content, equal id).
  // With the prefix cache off nothing is registered and a fresh id is returned.
  uint64_t register_block(int32_t b, uint64_t parent, std::span<const int32_t> tokens);

  struct Hit {
    int32_t block;
    uint64_t gen;
    int64_t n_tokens;  // positions of `tokens` the block holds (== block_tokens: a full block)
  };
  // The cached block continuing `parent` with the longest prefix of `next` (up to
  // block_tokens tokens): the full block first, then partial ones. Takes no reference.
  std::optional<Hit> lookup(uint64_t parent, std::span<const int32_t> next) const;

 private:
  struct Meta {
    int32_t ref = 0;
    int32_t n_tokens = 0;     // positions of the registered content
    uint64_t gen = 0;         // 0: not registered
    uint64_t parent = 0;
    uint64_t hash = 0;
    int32_t prev = -1, next = -1;  // LRU links (when ref == 0 and registered)
  };
  static uint64_t key_hash(uint64_t parent, std::span<const int32_t> tokens);
  bool matches(int32_t b, uint64_t parent, std::span<const int32_t> tokens) const;
  void unregister(int32_t b);
  void lru_push_back(int32_t b);
  void lru_remove(int32_t b);
  void copy_block(int32_t src, int32_t dst);

  model::KvStorage storage_;
  struct FreeMem {
    void operator()(void* p) const;
  };
  std::unique_ptr<void, FreeMem> k_mem_, v_mem_;
  bool prefix_cache_;
  std::vector<Meta> meta_;                      // [n_blocks]
  std::vector<int32_t> tokens_;                 // [n_blocks, block_tokens] registered content
  std::vector<int32_t> free_;                   // unregistered, unreferenced (a stack)
  std::unordered_multimap<uint64_t, int32_t> index_;  // key hash -> registered block
  int32_t lru_head_ = -1, lru_tail_ = -1;       // head: least recently used
  int64_t n_lru_ = 0;
  int64_t evictions_ = 0;
  int64_t copies_ = 0;
  uint64_t next_gen_ = 1;
};

}  // namespace qg::runtime
