// guard::Sampler: temperature 0 and top_k 1 are the argmax; a seed reproduces a
// sample; top-p keeps the smallest nucleus; and the empirical frequencies over many
// draws match softmax(logits / T) computed here independently, in long double.
#include "guard/sampler.h"

#include <cmath>
#include <map>
#include <vector>

#include <gtest/gtest.h>

namespace qg::guard {
namespace {

const std::vector<float> kLogits = {0.5f, 2.0f, -1.0f, 1.5f, 2.0f, 0.0f};

TEST(Sampler, TemperatureZeroIsFirstArgmax) {
  Sampler s({0, 1, 0, 42});
  for (int i = 0; i < 10; ++i) EXPECT_EQ(s.sample(kLogits), 1);  // ids 1 and 4 tie: the first wins
}

TEST(Sampler, TopKOneIsArgmax) {
  Sampler s({1.3, 1, 1, 7});
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.sample(kLogits), 1);
}

TEST(Sampler, SeedReproduces) {
  Sampler a({1, 1, 0, 99}), b({1, 1, 0, 99}), c({1, 1, 0, 100});
  std::vector<int32_t> xa, xb, xc;
  for (int i = 0; i < 64; ++i) {
    xa.push_back(a.sample(kLogits));
    xb.push_back(b.sample(kLogits));
    xc.push_back(c.sample(kLogits));
  }
  EXPECT_EQ(xa, xb);
  EXPECT_NE(xa, xc);
}

TEST(Sampler, FrequenciesMatchSoftmax) {
  const double t = 0.8;
  long double z = 0;
  std::vector<long double> p;
  for (float l : kLogits) p.push_back(std::exp(static_cast<long double>(l) / t)), z += p.back();
  Sampler s({t, 1, 0, 5});
  std::map<int32_t, int> count;
  const int n = 40000;
  for (int i = 0; i < n; ++i) ++count[s.sample(kLogits)];
  for (size_t i = 0; i < kLogits.size(); ++i) {
    const double want = static_cast<double>(p[i] / z);
    const double sd = std::sqrt(want * (1 - want) / n);
    EXPECT_NEAR(count[static_cast<int32_t>(i)] / static_cast<double>(n), want, 5 * sd + 1e-4) << "token " << i;
  }
}

TEST(Sampler, TopPKeepsTheNucleus) {
  // softmax at T=1: ids 1 and 4 hold ~0.33 each, id 3 ~0.20; top_p 0.6 keeps {1, 4}.
  Sampler s({1, 0.6, 0, 11});
  std::map<int32_t, int> count;
  for (int i = 0; i < 5000; ++i) ++count[s.sample(kLogits)];
  EXPECT_EQ(count.size(), 2u);
  EXPECT_GT(count[1], 2000);
  EXPECT_GT(count[4], 2000);
}

TEST(Sampler, LogSoftmaxAndTopIds) {
  long double z = 0;
  for (float l : kLogits) z += std::exp(static_cast<long double>(l));
  EXPECT_NEAR(log_softmax_at(kLogits, 3), 1.5 - std::log(static_cast<double>(z)), 1e-12);
  EXPECT_EQ(top_ids(kLogits, 3), (std::vector<int32_t>{1, 4, 3}));
}

}  // namespace
}  // namespace qg::guard
