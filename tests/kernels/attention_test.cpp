// Causal GQA attention: the scalar reference against a double-precision softmax
// written out here, then every ISA and thread count against the reference, over head
// groupings (1, 2, 3, 4, 16/8), head sizes not multiple of 8, and pos0 > 0 (decode
// on top of a cache). Cache rows past pos0 + n_q hold NaN: reading them would show.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "base/error.h"
#include "kernels/kernels.h"
#include "kernels_test_util.h"

namespace qg::kernels {
namespace {

using testing::expect_close;
using testing::random_floats;

struct Case {
  int64_t n_q, pos0, n_heads, n_kv_heads, head_dim;
};

const Case kCases[] = {
    {1, 0, 1, 1, 8},    {1, 37, 2, 1, 16},  {2, 5, 3, 1, 12}, {3, 0, 4, 2, 64},
    {7, 0, 16, 8, 128}, {7, 9, 3, 3, 40},   {64, 0, 4, 4, 8}, {1, 300, 16, 8, 128},
    {13, 50, 6, 2, 36}, {64, 3, 2, 2, 128},
};

// out in double from the definition; scale = Σ_j p_j |v_j| per output (error scale).
void attention_double(const Case& c, const std::vector<float>& q, const std::vector<float>& k,
                      const std::vector<float>& v, float scale_qk, std::vector<float>* out,
                      std::vector<float>* scale) {
  const int64_t group = c.n_heads / c.n_kv_heads;
  out->assign(q.size(), 0.0f);
  scale->assign(q.size(), 0.0f);
  for (int64_t i = 0; i < c.n_q; ++i) {
    for (int64_t h = 0; h < c.n_heads; ++h) {
      const int64_t kvh = h / group, n_seen = c.pos0 + i + 1;
      std::vector<double> s(n_seen);
      double mx = -1e300;
      for (int64_t j = 0; j < n_seen; ++j) {
        double dot = 0.0;
        for (int64_t d = 0; d < c.head_dim; ++d) {
          dot += double(q[(i * c.n_heads + h) * c.head_dim + d]) *
                 k[(j * c.n_kv_heads + kvh) * c.head_dim + d];
        }
        s[j] = dot * scale_qk;
        mx = std::max(mx, s[j]);
      }
      double sum = 0.0;
      for (auto& e : s) sum += (e = std::exp(e - mx));
      for (int64_t d = 0; d < c.head_dim; ++d) {
        double acc = 0.0, mag = 0.0;
        for (int64_t j = 0; j < n_seen; ++j) {
          const double vv = v[(j * c.n_kv_heads + kvh) * c.head_dim + d];
          acc += s[j] / sum * vv;
          mag += s[j] / sum * std::fabs(vv);
        }
        (*out)[(i * c.n_heads + h) * c.head_dim + d] = static_cast<float>(acc);
        (*scale)[(i * c.n_heads + h) * c.head_dim + d] = static_cast<float>(mag) + 1e-6f;
      }
    }
  }
}

TEST(Attention, EveryIsaMatchesDoubleDefinition) {
  for (const Case& c : kCases) {
    const int64_t n_kv_pos = c.pos0 + c.n_q + 3;  // cache capacity beyond what is valid
    const float scale_qk = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    std::vector<float> q = random_floats(c.n_q * c.n_heads * c.head_dim, 1, -2.0f, 2.0f);
    std::vector<float> k = random_floats(n_kv_pos * c.n_kv_heads * c.head_dim, 2, -2.0f, 2.0f);
    std::vector<float> v = random_floats(n_kv_pos * c.n_kv_heads * c.head_dim, 3);
    const size_t valid = (c.pos0 + c.n_q) * c.n_kv_heads * c.head_dim;
    for (size_t i = valid; i < k.size(); ++i) k[i] = v[i] = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> want, scale;
    attention_double(c, q, k, v, scale_qk, &want, &scale);
    const std::string shape = "n_q=" + std::to_string(c.n_q) + " pos0=" + std::to_string(c.pos0) +
                              " heads=" + std::to_string(c.n_heads) + "/" +
                              std::to_string(c.n_kv_heads) + " d=" + std::to_string(c.head_dim);
    for (Isa isa : testing::supported_isas()) {
      for (int threads : {1, 2, 3}) {
        Context ctx(threads, isa);
        // Exactly the promised scratch, so ASan catches any overrun.
        std::vector<float> scratch(attention_scratch_floats(ctx, c.n_q, n_kv_pos, c.n_heads));
        std::vector<float> got(q.size(), -5.0f);
        attention(ctx, q.data(), c.n_q, c.pos0, k.data(), v.data(), c.n_heads, c.n_kv_heads,
                  c.head_dim, scale_qk, got.data(), scratch.data());
        expect_close(got, want, scale, 1e-5, testing::isa_label(isa, threads) + " " + shape);
      }
    }
  }
}

TEST(Attention, RejectsHeadsNotMultipleOfKvHeads) {
  Context ctx(1);
  float buf[64] = {};
  EXPECT_THROW(attention(ctx, buf, 1, 0, buf, buf, 3, 2, 8, 1.0f, buf, buf), Error);
}

}  // namespace
}  // namespace qg::kernels
