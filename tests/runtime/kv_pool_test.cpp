// KvPool: allocation and reference counts, the exact prefix cache (full and partial
// blocks, the hash chain), copy-on-write and stealing, LRU eviction order, and the
// pool's size arithmetic. Pure bookkeeping on a pool with a 1-layer shape.
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

#include "runtime/kv_pool.h"
#include "testutil/expect_error.h"

namespace qg::runtime {
namespace {

model::Qwen3Config shape() {
  model::Qwen3Config c;
  c.hidden_size = 8, c.intermediate_size = 16, c.num_hidden_layers = 2;
  c.num_attention_heads = 2, c.num_key_value_heads = 1, c.head_dim = 4;
  c.vocab_size = 50, c.max_position_embeddings = 1024;
  return c;
}

std::vector<int32_t> toks(int32_t from, int n) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), from);
  return t;
}

TEST(KvPool, AllocateReleaseAndExhaustion) {
  KvPool pool(shape(), DType::kF32, 4, 3, true);
  EXPECT_EQ(pool.n_available(), 3);
  auto a = pool.allocate(), b = pool.allocate(), c = pool.allocate();
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(*a, 0);  // lowest id first
  EXPECT_FALSE(pool.allocate()) << "every block is referenced";
  EXPECT_EQ(pool.n_used(), 3);
  pool.acquire(*b);
  pool.release(*b);
  EXPECT_EQ(pool.n_available(), 0) << "b still has a reference";
  pool.release(*b);
  EXPECT_EQ(pool.n_available(), 1);
  EXPECT_EQ(pool.allocate(), b) << "unregistered blocks go straight back to the free list";
}

TEST(KvPool, PrefixCacheHitsFollowTheChainExactly) {
  KvPool pool(shape(), DType::kF32, 4, 8, true);
  const auto t = toks(10, 8);  // two full blocks
  const int32_t b0 = *pool.allocate(), b1 = *pool.allocate();
  const uint64_t g0 = pool.register_block(b0, 0, std::span(t).first(4));
  const uint64_t g1 = pool.register_block(b1, g0, std::span(t).subspan(4, 4));
  EXPECT_NE(g0, g1);
  // Same tokens, same parent: hit; the content is known after the release too.
  pool.release(b1);
  pool.release(b0);
  EXPECT_EQ(pool.n_cached(), 2);
  auto h0 = pool.lookup(0, std::span(t).first(4));
  ASSERT_TRUE(h0);
  EXPECT_EQ(h0->block, b0);
  EXPECT_EQ(h0->gen, g0);
  EXPECT_EQ(h0->n_tokens, 4);
  auto h1 = pool.lookup(g0, std::span(t).subspan(4, 4));
  ASSERT_TRUE(h1);
  EXPECT_EQ(h1->block, b1);
  // The second block's tokens after a different first block: no hit (exact chain).
  EXPECT_FALSE(pool.lookup(0, std::span(t).subspan(4, 4)));
  EXPECT_FALSE(pool.lookup(g1, std::span(t).subspan(4, 4)));
  // One token different: no hit.
  auto t2 = t;
  t2[2] = 49;
  EXPECT_FALSE(pool.lookup(0, std::span(t2).first(4)));
  // Acquiring revives a cached block.
  pool.acquire(h0->block);
  EXPECT_EQ(pool.n_cached(), 1);
  EXPECT_EQ(pool.refs(b0), 1);
  // The same content registered from another block returns the existing id and leaves
  // that block private.
  const int32_t dup = *pool.allocate();
  EXPECT_EQ(pool.register_block(dup, 0, std::span(t).first(4)), g0);
  EXPECT_FALSE(pool.registered(dup));
}

TEST(KvPool, PartialBlocksAreFoundByTheirPrefix) {
  KvPool pool(shape(), DType::kF32, 4, 4, true);
  const auto t = toks(1, 6);
  const int32_t b = *pool.allocate();
  const uint64_t g = pool.register_block(b, 7, std::span(t).first(3));  // 3 of 4 positions
  pool.release(b);
  // A longer continuation starting with those 3 tokens finds them.
  auto h = pool.lookup(7, std::span(t).first(4));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->n_tokens, 3);
  EXPECT_EQ(h->gen, g);
  // Fewer tokens than the entry holds: not a match (the entry needs all 3).
  EXPECT_FALSE(pool.lookup(7, std::span(t).first(2)));
  // The full block wins over a partial one.
  const int32_t f = *pool.allocate();
  pool.register_block(f, 7, std::span(t).first(4));
  EXPECT_EQ(pool.lookup(7, std::span(t).first(4))->n_tokens, 4);
}

TEST(KvPool, CopyOnWriteOfASharedBlockAndStealOfAnUnsharedOne) {
  KvPool pool(shape(), DType::kF32, 4, 4, true);
  const model::KvStorage& s = pool.storage();
  const int32_t b = *pool.allocate();
  // Fill block b of both layers with a pattern.
  const size_t block_bytes = static_cast<size_t>(s.block_stride) * 4;
  for (int64_t l = 0; l < s.n_layers; ++l) {
    auto* k = static_cast<float*>(s.k_layer(l)) + b * s.block_stride;
    auto* v = static_cast<float*>(s.v_layer(l)) + b * s.block_stride;
    for (int64_t i = 0; i < s.block_stride; ++i) k[i] = float(l * 1000 + i), v[i] = -float(l * 1000 + i);
  }
  pool.register_block(b, 0, toks(5, 2));  // a partial tail
  pool.acquire(b);                                   // two sequences hold it
  EXPECT_FALSE(pool.writable(b));
  const auto w = pool.make_writable(b);
  ASSERT_TRUE(w);
  EXPECT_NE(*w, b) << "shared: copied";
  EXPECT_EQ(pool.refs(b), 1);
  EXPECT_EQ(pool.refs(*w), 1);
  EXPECT_TRUE(pool.writable(*w));
  EXPECT_TRUE(pool.registered(b)) << "the original stays cached for others";
  for (int64_t l = 0; l < s.n_layers; ++l) {
    EXPECT_EQ(0, std::memcmp(static_cast<char*>(s.k_layer(l)) + *w * block_bytes,
                             static_cast<char*>(s.k_layer(l)) + b * block_bytes, block_bytes));
    EXPECT_EQ(0, std::memcmp(static_cast<char*>(s.v_layer(l)) + *w * block_bytes,
                             static_cast<char*>(s.v_layer(l)) + b * block_bytes, block_bytes));
  }
  // Held alone but registered: taken over in place, the cache entry dropped.
  const auto w2 = pool.make_writable(b);
  ASSERT_TRUE(w2);
  EXPECT_EQ(*w2, b);
  EXPECT_FALSE(pool.registered(b));
  EXPECT_FALSE(pool.lookup(0, toks(5, 2)));
  // A copy with no block available fails and changes nothing.
  KvPool tiny(shape(), DType::kF32, 4, 1, true);
  const int32_t only = *tiny.allocate();
  tiny.acquire(only);
  EXPECT_FALSE(tiny.make_writable(only));
  EXPECT_EQ(tiny.refs(only), 2);
}

TEST(KvPool, LeastRecentlyUsedCachedBlockIsEvictedFirst) {
  KvPool pool(shape(), DType::kF32, 2, 3, true);
  int32_t b[3];
  for (int i = 0; i < 3; ++i) {
    b[i] = *pool.allocate();
    pool.register_block(b[i], 0, toks(10 * i, 2));
  }
  pool.release(b[1]);
  pool.release(b[0]);
  pool.release(b[2]);  // LRU order: b1, b0, b2
  EXPECT_EQ(pool.n_cached(), 3);
  pool.acquire(b[1]);  // a hit makes b1 used again...
  pool.release(b[1]);  // ...and most recent: b0, b2, b1
  EXPECT_EQ(pool.allocate(), b[0]);
  EXPECT_FALSE(pool.lookup(0, toks(0, 2))) << "evicted content is gone";
  EXPECT_TRUE(pool.lookup(0, toks(20, 2)));
  EXPECT_EQ(pool.allocate(), b[2]);
  EXPECT_EQ(pool.allocate(), b[1]);
  EXPECT_EQ(pool.evictions(), 3);
  EXPECT_FALSE(pool.allocate());
}

TEST(KvPool, PrefixCacheOffRegistersNothing) {
  KvPool pool(shape(), DType::kF16, 4, 2, false);
  const int32_t b = *pool.allocate();
  const auto t = toks(0, 4);
  pool.register_block(b, 0, t);
  EXPECT_FALSE(pool.registered(b));
  pool.release(b);
  EXPECT_FALSE(pool.lookup(0, t));
  EXPECT_EQ(pool.n_cached(), 0);
}

TEST(KvPool, SizeFromMegabytes) {
  const auto c = shape();
  // 2 layers * 2 (K,V) * 16 tokens * 4 (kv_dim) * 4 bytes = 1024 bytes per f32 block.
  EXPECT_EQ(KvPool::block_bytes(c, DType::kF32, 16), 1024);
  EXPECT_EQ(KvPool::block_bytes(c, DType::kF16, 16), 512);
  EXPECT_EQ(KvPool::blocks_for_mb(c, DType::kF32, 16, 1), 1024);
  EXPECT_EQ(KvPool::blocks_for_mb(c, DType::kF16, 16, 1), 2048);
  testutil::expect_error([&] { KvPool::blocks_for_mb(c, DType::kF32, 16, -3); }, {"--kv-cache-mb -3"});
}

}  // namespace
}  // namespace qg::runtime
