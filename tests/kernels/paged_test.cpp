// Paged-cache kernels (attention_paged, kv_store): against a double-precision softmax
// over the logical cache written out here, on non-contiguous block tables (shuffled
// physical blocks with padding between them and NaN everywhere a kernel must not read),
// block sizes 1, 5, 16, 32, 64, GQA groups 1..8, head_dim 8..128 (some not multiples of 8),
// f32 and f16 caches; then batch invariance, bitwise: a query's output is the same for
// one-shot prefill, token-by-token decode, random prefill chunks and any thread count.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>

#include "base/error.h"
#include "kernels/kernels.h"
#include "kernels_test_util.h"

namespace qg::kernels {
namespace {

using testing::expect_close;
using testing::random_floats;

struct Case {
  int64_t n_q, pos0, n_heads, n_kv_heads, head_dim, block_tokens;
  DType dtype;
};

// A paged K/V pool for one layer holding one sequence of n_pos positions, built without
// the kernels: physical blocks in a shuffled order with spare blocks between them, a few
// padding elements after each block, NaN in every element that is not a valid position.
struct TestCache {
  int64_t n_pos, n_kv_heads, head_dim, block_tokens, row_elems, block_stride;
  DType dtype;
  std::vector<int32_t> blocks;           // logical -> physical
  std::vector<uint8_t> k_pool, v_pool;   // [n_phys, block_stride] of dtype
  std::vector<float> k_log, v_log;       // [n_pos, n_kv_heads, head_dim] stored values as f32

  PagedKv view() const {
    PagedKv kv;
    kv.k = k_pool.data();
    kv.v = v_pool.data();
    kv.blocks = blocks.data();
    kv.block_tokens = block_tokens;
    kv.block_stride = block_stride;
    kv.dtype = dtype;
    return kv;
  }
};

void put(std::vector<uint8_t>& pool, DType dtype, int64_t i, float value) {
  if (dtype == DType::kF16) {
    reinterpret_cast<uint16_t*>(pool.data())[i] = f32_to_f16(value);
  } else {
    reinterpret_cast<float*>(pool.data())[i] = value;
  }
}

float widened(DType dtype, float value) {
  return dtype == DType::kF16 ? f16_to_f32(f32_to_f16(value)) : value;
}

TestCache make_cache(int64_t n_pos, int64_t n_kv_heads, int64_t head_dim, int64_t block_tokens,
                     DType dtype, uint32_t seed) {
  TestCache c{n_pos, n_kv_heads, head_dim, block_tokens, n_kv_heads * head_dim, 0, dtype, {}, {},
              {}, {}, {}};
  c.block_stride = block_tokens * c.row_elems + 3;
  const int64_t n_log = (n_pos + block_tokens - 1) / block_tokens;
  const int64_t n_phys = 2 * n_log + 1;
  std::vector<int32_t> perm(n_phys);
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937 rng(seed);
  std::shuffle(perm.begin(), perm.end(), rng);
  c.blocks.assign(perm.begin(), perm.begin() + n_log);
  const size_t elems = static_cast<size_t>(n_phys * c.block_stride);
  c.k_pool.resize(elems * dtype_size(dtype));
  c.v_pool.resize(elems * dtype_size(dtype));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (size_t i = 0; i < elems; ++i) {
    put(c.k_pool, dtype, static_cast<int64_t>(i), nan);
    put(c.v_pool, dtype, static_cast<int64_t>(i), nan);
  }
  c.k_log = random_floats(static_cast<size_t>(n_pos * c.row_elems), seed + 1, -2.0f, 2.0f);
  c.v_log = random_floats(static_cast<size_t>(n_pos * c.row_elems), seed + 2);
  for (int64_t p = 0; p < n_pos; ++p) {
    const int64_t base =
        c.blocks[p / block_tokens] * c.block_stride + (p % block_tokens) * c.row_elems;
    for (int64_t e = 0; e < c.row_elems; ++e) {
      float& kv = c.k_log[p * c.row_elems + e];
      float& vv = c.v_log[p * c.row_elems + e];
      kv = widened(dtype, kv);
      vv = widened(dtype, vv);
      put(c.k_pool, dtype, base + e, kv);
      put(c.v_pool, dtype, base + e, vv);
    }
  }
  return c;
}

// out in double from the definition; scale = Σ_j p_j |v_j| per output (error scale).
void attention_double(const TestCache& c, const std::vector<float>& q, int64_t n_q, int64_t pos0,
                      int64_t n_heads, float scale_qk, std::vector<float>* out,
                      std::vector<float>* scale) {
  const int64_t hd = c.head_dim, group = n_heads / c.n_kv_heads;
  out->assign(q.size(), 0.0f);
  scale->assign(q.size(), 0.0f);
  for (int64_t i = 0; i < n_q; ++i) {
    for (int64_t h = 0; h < n_heads; ++h) {
      const int64_t kvh = h / group, n_seen = pos0 + i + 1;
      std::vector<double> s(n_seen);
      double mx = -1e300;
      for (int64_t j = 0; j < n_seen; ++j) {
        double dot = 0.0;
        for (int64_t d = 0; d < hd; ++d) {
          dot += double(q[(i * n_heads + h) * hd + d]) * c.k_log[(j * c.n_kv_heads + kvh) * hd + d];
        }
        s[j] = dot * scale_qk;
        mx = std::max(mx, s[j]);
      }
      double sum = 0.0;
      for (auto& e : s) sum += (e = std::exp(e - mx));
      for (int64_t d = 0; d < hd; ++d) {
        double acc = 0.0, mag = 0.0;
        for (int64_t j = 0; j < n_seen; ++j) {
          const double vv = c.v_log[(j * c.n_kv_heads + kvh) * hd + d];
          acc += s[j] / sum * vv;
          mag += s[j] / sum * std::fabs(vv);
        }
        (*out)[(i * n_heads + h) * hd + d] = static_cast<float>(acc);
        (*scale)[(i * n_heads + h) * hd + d] = static_cast<float>(mag) + 1e-6f;
      }
    }
  }
}

// Runs attention_paged for queries [i0, i0 + n) of q_all (one sequence) at pos0 = i0.
std::vector<float> run_paged(const Context& ctx, const TestCache& c, const std::vector<float>& q_all,
                             int64_t i0, int64_t n, int64_t n_heads) {
  const int64_t hd = c.head_dim;
  // Exactly the promised scratch, so ASan catches any overrun.
  std::vector<float> scratch(attention_paged_scratch_floats(ctx, n, i0 + n, n_heads, hd));
  std::vector<float> out(static_cast<size_t>(n * n_heads * hd), -5.0f);
  attention_paged(ctx, q_all.data() + i0 * n_heads * hd, n, i0, c.view(), n_heads, c.n_kv_heads, hd,
                  1.0f / std::sqrt(static_cast<float>(hd)), out.data(), scratch.data());
  return out;
}

std::string label(const Case& c) {
  return "n_q=" + std::to_string(c.n_q) + " pos0=" + std::to_string(c.pos0) +
         " heads=" + std::to_string(c.n_heads) + "/" + std::to_string(c.n_kv_heads) +
         " d=" + std::to_string(c.head_dim) + " bt=" + std::to_string(c.block_tokens) + " " +
         std::string(dtype_name(c.dtype));
}

const Case kCases[] = {
    {1, 0, 1, 1, 8, 16, DType::kF32},     {1, 37, 2, 1, 16, 16, DType::kF16},
    {2, 5, 3, 1, 12, 5, DType::kF32},     {3, 0, 4, 2, 64, 1, DType::kF16},
    {7, 0, 16, 8, 128, 16, DType::kF32},  {7, 9, 3, 3, 40, 32, DType::kF32},
    {40, 0, 4, 4, 8, 16, DType::kF16},    {1, 300, 16, 8, 128, 16, DType::kF16},
    {13, 50, 6, 2, 36, 64, DType::kF32},  {20, 3, 8, 1, 100, 7, DType::kF32},
    {33, 31, 16, 8, 128, 16, DType::kF16}, {9, 64, 2, 2, 24, 16, DType::kF32},
};

TEST(AttentionPaged, EveryIsaMatchesDoubleDefinition) {
  for (const Case& c : kCases) {
    const int64_t n_pos = c.pos0 + c.n_q;
    TestCache cache = make_cache(n_pos, c.n_kv_heads, c.head_dim, c.block_tokens, c.dtype, 7);
    std::vector<float> q_all =
        random_floats(static_cast<size_t>(n_pos * c.n_heads * c.head_dim), 8, -2.0f, 2.0f);
    std::vector<float> q(q_all.begin() + c.pos0 * c.n_heads * c.head_dim, q_all.end());
    std::vector<float> want, scale;
    attention_double(cache, q, c.n_q, c.pos0, c.n_heads,
                     1.0f / std::sqrt(static_cast<float>(c.head_dim)), &want, &scale);
    for (Isa isa : testing::supported_isas()) {
      for (int threads : {1, 2, 3}) {
        Context ctx(threads, isa);
        std::vector<float> got = run_paged(ctx, cache, q_all, c.pos0, c.n_q, c.n_heads);
        expect_close(got, want, scale, 1e-5, testing::isa_label(isa, threads) + " " + label(c));
      }
    }
  }
}

// Splits [0, n) into chunks whose sizes come from `rng` (1 .. max_chunk).
std::vector<int64_t> random_split(int64_t n, int64_t max_chunk, std::mt19937& rng) {
  std::vector<int64_t> sizes;
  std::uniform_int_distribution<int64_t> dist(1, max_chunk);
  for (int64_t done = 0; done < n;) {
    const int64_t s = std::min(n - done, dist(rng));
    sizes.push_back(s);
    done += s;
  }
  return sizes;
}

// Query i's output must not depend on how the sequence is cut into calls (chunked
// prefill, decode, one shot) nor on the thread count: compared bitwise.
TEST(AttentionPaged, BatchInvariantUnderAnySplitBitwise) {
  const Case shapes[] = {
      {0, 0, 16, 8, 128, 16, DType::kF32}, {0, 0, 16, 8, 128, 16, DType::kF16},
      {0, 0, 6, 2, 36, 5, DType::kF32},    {0, 0, 4, 1, 8, 1, DType::kF16},
      {0, 0, 3, 3, 100, 32, DType::kF32},
  };
  const int64_t n_pos = 75;
  std::mt19937 rng(99);
  for (const Case& c : shapes) {
    TestCache cache = make_cache(n_pos, c.n_kv_heads, c.head_dim, c.block_tokens, c.dtype, 17);
    std::vector<float> q_all =
        random_floats(static_cast<size_t>(n_pos * c.n_heads * c.head_dim), 18, -2.0f, 2.0f);
    const size_t per_q = static_cast<size_t>(c.n_heads * c.head_dim);
    for (Isa isa : testing::supported_isas()) {
      Context one(1, isa);
      const std::vector<float> whole = run_paged(one, cache, q_all, 0, n_pos, c.n_heads);
      for (int threads : {1, 2, 3}) {
        Context ctx(threads, isa);
        for (int trial = 0; trial < 3; ++trial) {
          // trial 0: token by token; 1, 2: random chunks (up to 40 tokens).
          std::vector<int64_t> sizes =
              trial == 0 ? std::vector<int64_t>(n_pos, 1) : random_split(n_pos, 40, rng);
          int64_t i0 = 0;
          for (int64_t s : sizes) {
            const std::vector<float> part = run_paged(ctx, cache, q_all, i0, s, c.n_heads);
            ASSERT_EQ(0, std::memcmp(part.data(), whole.data() + i0 * per_q,
                                     part.size() * sizeof(float)))
                << testing::isa_label(isa, threads) << " " << label(c) << " trial " << trial
                << ": queries " << i0 << ".." << i0 + s - 1 << " differ from the one-shot call";
            i0 += s;
          }
        }
      }
    }
  }
}

TEST(KvStore, WritesEveryPositionAndNothingElse) {
  for (DType dtype : {DType::kF32, DType::kF16}) {
    for (int64_t bt : {1, 5, 16}) {
      const int64_t n_pos = 37, row_elems = 2 * 12;
      // An empty cache of the right geometry: all NaN, logical values unused.
      TestCache c = make_cache(n_pos, 2, 12, bt, dtype, 5);
      std::vector<uint8_t> pool(c.k_pool.size());
      const float sentinel = 1234.5f;
      for (size_t i = 0; i < pool.size() / dtype_size(dtype); ++i) {
        put(pool, dtype, static_cast<int64_t>(i), sentinel);
      }
      std::vector<float> rows = random_floats(static_cast<size_t>(n_pos * row_elems), 6, -70000.f,
                                              70000.f);  // beyond f16's range too
      rows[3] = 1e-8f;                                   // below the smallest f16 subnormal
      rows[4] = 3e-6f;                                   // an f16 subnormal
      for (Isa isa : testing::supported_isas()) {
        Context ctx(2, isa);
        std::vector<uint8_t> got = pool;
        std::mt19937 rng(3);
        int64_t p0 = 0;
        for (int64_t s : random_split(n_pos, 9, rng)) {
          kv_store(ctx, rows.data() + p0 * row_elems, s, row_elems, p0, got.data(), c.view());
          p0 += s;
        }
        std::vector<uint8_t> want = pool;
        for (int64_t p = 0; p < n_pos; ++p) {
          const int64_t base = c.blocks[p / bt] * c.block_stride + (p % bt) * row_elems;
          for (int64_t e = 0; e < row_elems; ++e) put(want, dtype, base + e, rows[p * row_elems + e]);
        }
        EXPECT_EQ(got, want) << isa_name(isa) << " " << dtype_name(dtype) << " bt=" << bt;
      }
    }
  }
}

TEST(AttentionPaged, RejectsBadArguments) {
  Context ctx(1);
  float buf[256] = {};
  int32_t block = 0;
  PagedKv kv{buf, buf, &block, 4, 4 * 8, DType::kF32};
  EXPECT_THROW(attention_paged(ctx, buf, 1, 0, kv, 3, 2, 8, 1.0f, buf, buf), Error);
  PagedKv bf16 = kv;
  bf16.dtype = DType::kBF16;
  EXPECT_THROW(attention_paged(ctx, buf, 1, 0, bf16, 1, 1, 8, 1.0f, buf, buf), Error);
  PagedKv narrow = kv;
  narrow.block_stride = 4 * 8 - 1;
  EXPECT_THROW(kv_store(ctx, buf, 1, 8, 0, buf, narrow), Error);
}

}  // namespace
}  // namespace qg::kernels
