// Sampling (see sampler.h). Probabilities are computed in double from the f32
// logits, shifted by the maximum, as softmax(logits / T).
#include "guard/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "base/error.h"

namespace qg::guard {
namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

int32_t argmax(std::span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

}  // namespace

Sampler::Sampler(const SamplingParams& p) : p_(p) {
  QG_CHECK(p.top_p > 0 && p.top_p <= 1, "top_p ", p.top_p, " outside (0, 1]");
  uint64_t x = p.seed;
  for (auto& w : s_) w = splitmix64(x);
}

uint64_t Sampler::next_u64() {  // xoshiro256**
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Sampler::next_uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

int32_t Sampler::sample(std::span<const float> logits) {
  QG_CHECK(!logits.empty(), "empty logits");
  if (p_.temperature <= 0) return argmax(logits);
  const int32_t n = static_cast<int32_t>(logits.size());
  const double mx = logits[argmax(logits)];
  const double inv_t = 1.0 / p_.temperature;
  order_.resize(n);
  std::iota(order_.begin(), order_.end(), 0);
  auto more_likely = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  int32_t keep = n;
  if (p_.top_k > 0 && p_.top_k < n) {
    keep = p_.top_k;
    std::partial_sort(order_.begin(), order_.begin() + keep, order_.end(), more_likely);
  } else if (p_.top_p < 1) {
    std::sort(order_.begin(), order_.end(), more_likely);
  }
  prob_.resize(keep);
  double total = 0;
  for (int32_t i = 0; i < keep; ++i) total += prob_[i] = std::exp((logits[order_[i]] - mx) * inv_t);
  if (p_.top_p < 1) {
    // Nucleus: the smallest most-likely prefix whose mass reaches top_p (at least one).
    double cum = 0;
    int32_t cut = 0;
    while (cut < keep) {
      cum += prob_[cut++];
      if (cum >= p_.top_p * total) break;
    }
    keep = cut;
    total = cum;
  }
  const double u = next_uniform() * total;
  double acc = 0;
  for (int32_t i = 0; i < keep; ++i) {
    acc += prob_[i];
    if (u < acc) return order_[i];
  }
  return order_[keep - 1];  // rounding at the very top of the range
}

double log_softmax_at(std::span<const float> logits, int32_t id) {
  const double mx = logits[argmax(logits)];
  double s = 0;
  for (float l : logits) s += std::exp(static_cast<double>(l) - mx);
  return static_cast<double>(logits[id]) - mx - std::log(s);
}

std::vector<int32_t> top_ids(std::span<const float> logits, int k) {
  k = std::clamp<int>(k, 0, static_cast<int>(logits.size()));
  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  ids.resize(k);
  return ids;
}

}  // namespace qg::guard
