// Token sampling for free-form generation (the server's chat completions with
// temperature > 0): temperature, then top-k, then top-p (nucleus), then one draw,
// in the order HF transformers' logits warpers and vLLM's sampler apply them. It
// lives in guard/ because it is plain arithmetic over the model's logits that the
// text decode loop calls (ClassifyOptions::choose); it knows nothing of HTTP.
// Temperature 0 is greedy: the first maximum, exactly the text mode's argmax.
// The random stream is our own (xoshiro256** seeded by SplitMix64 of `seed`), so a
// seed reproduces a sample on any platform; it does not reproduce another engine's
// samples (no two engines share a random stream).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

namespace qg::guard {

struct SamplingParams {
  double temperature = 0;  // <= 0: greedy
  double top_p = 1;        // (0, 1]; 1 keeps every token
  int top_k = 0;           // <= 0: no limit
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p);
  // Picks one token id from logits [vocab]. Not thread-safe (one per sequence).
  int32_t sample(std::span<const float> logits);
  // Uniform double in [0, 1) from the stream (53 random bits).
  double next_uniform();

 private:
  uint64_t next_u64();
  SamplingParams p_;
  std::array<uint64_t, 4> s_{};
  std::vector<int32_t> order_;  // scratch: candidate ids
  std::vector<double> prob_;    // scratch: their unnormalised probabilities
};

// log-softmax of one logit of a row (double precision), for chat logprobs.
double log_softmax_at(std::span<const float> logits, int32_t id);
// The k most likely ids of a row, most likely first (ties: lower id first).
std::vector<int32_t> top_ids(std::span<const float> logits, int k);

}  // namespace qg::guard
