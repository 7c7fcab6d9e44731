// Qwen3Model: loading (config + safetensors -> typed weights, RoPE frequencies) and the
// single-sequence API (forward over a KvCache, generate_greedy), a thin wrapper over the
// batched model::forward (model/forward.cpp, where the architecture is written out).
// After load the model is immutable: every mutable buffer belongs to a caller.
#include "model/qwen3.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "base/error.h"
#include "model/qwen3_weights.h"
#include "model/stream_heads.h"
#include "weights/tensor_store.h"

namespace qg::model {

struct Qwen3Model::Impl {
  Qwen3Config cfg;
  weights::TensorStore store;  // owns the mappings; `w` points into it
  Qwen3Weights w;
  std::vector<int32_t> stop_ids;
  std::vector<float> inv_freq;  // [d/2] RoPE frequencies θ^(−2j/d), computed in double, rounded to f32
  std::optional<StreamHeadWeights> heads;  // Qwen3ForGuardModel only
};

Qwen3Model::Qwen3Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Qwen3Model::~Qwen3Model() = default;

std::unique_ptr<Qwen3Model> Qwen3Model::load(const std::filesystem::path& dir) {
  return load(dir, weights::load_mode_from_env_or(weights::LoadMode::kMap));
}

std::unique_ptr<Qwen3Model> Qwen3Model::load(const std::filesystem::path& dir, weights::LoadMode mode) {
  if (!std::filesystem::is_directory(dir)) fail(dir.string(), ": not a checkpoint folder");
  Qwen3Config cfg = Qwen3Config::load(dir);
  auto impl = std::unique_ptr<Impl>(new Impl{cfg, weights::TensorStore::open(dir, mode), {}, {}, {}, {}});
  impl->w = Qwen3Weights::bind(impl->store, impl->cfg);
  impl->stop_ids = weights::load_stop_token_ids(dir, impl->cfg);
  if (impl->cfg.is_stream()) impl->heads = StreamHeadWeights::bind(impl->store, impl->cfg);
  const int64_t d = cfg.head_dim;
  impl->inv_freq.resize(static_cast<size_t>(d / 2));
  for (int64_t j = 0; j < d / 2; ++j) {
    impl->inv_freq[j] = static_cast<float>(std::pow(cfg.rope_theta, -2.0 * static_cast<double>(j) / d));
  }
  // Start paging the weights in while the caller sets up; never changes results.
  if (mode == weights::LoadMode::kMap) impl->store.advise(weights::Access::kWillNeed);
  return std::unique_ptr<Qwen3Model>(new Qwen3Model(std::move(impl)));
}

const Qwen3Config& Qwen3Model::config() const { return impl_->cfg; }
const Qwen3Weights& Qwen3Model::weights() const { return impl_->w; }
const std::vector<int32_t>& Qwen3Model::stop_token_ids() const { return impl_->stop_ids; }
const StreamHeadWeights* Qwen3Model::stream_heads() const { return impl_->heads ? &*impl_->heads : nullptr; }
const std::vector<float>& Qwen3Model::rope_inv_freq() const { return impl_->inv_freq; }
size_t Qwen3Model::checkpoint_bytes() const { return impl_->store.total_bytes(); }

KvCache Qwen3Model::make_cache(int64_t n_ctx) const {
  return KvCache(impl_->cfg, n_ctx > 0 ? n_ctx : impl_->cfg.max_position_embeddings);
}

void Qwen3Model::forward(const kernels::Context& ctx, std::span<const int32_t> tokens, KvCache& cache,
                         Logits which, std::span<float> out, std::span<const int32_t> vocab_rows) const {
  const Qwen3Config& c = impl_->cfg;
  const auto n = static_cast<int64_t>(tokens.size());
  // The checks the batched forward cannot make (it knows no cache capacity or Logits
  // mode); it validates the rest before writing anything.
  if (n == 0) fail("forward: no tokens");
  if (cache.storage_.n_layers != c.num_hidden_layers ||
      cache.storage_.block_stride != KvCache::kBlockTokens * c.kv_dim()) {
    fail("forward: the KV cache was made for a different model shape");
  }
  if (cache.n_past() + n > cache.n_ctx()) {
    fail("forward: ", n, " tokens after ", cache.n_past(), " cached positions overflow the cache of ",
         cache.n_ctx(), " positions");
  }
  const int64_t n_out = vocab_rows.empty() ? c.vocab_size : static_cast<int64_t>(vocab_rows.size());
  const int64_t need = which == Logits::kAll ? n * n_out : which == Logits::kLast ? n_out : 0;
  if (static_cast<int64_t>(out.size()) < need) {
    fail("forward: output span holds ", out.size(), " floats, ", need, " needed");
  }
  std::vector<int32_t>& pos = cache.out_pos_;
  pos.clear();
  if (which == Logits::kAll) {
    for (int64_t i = 0; i < n; ++i) pos.push_back(static_cast<int32_t>(i));
  } else if (which == Logits::kLast) {
    pos.push_back(static_cast<int32_t>(n - 1));
  }
  SeqStep step;
  step.tokens = tokens;
  step.pos0 = cache.n_past();
  step.blocks = cache.blocks_;
  step.out_positions = pos;
  step.want_logits = which != Logits::kNone;
  step.vocab_rows = vocab_rows;
  step.logits = out.first(static_cast<size_t>(need));
  model::forward(ctx, *this, cache.storage_, std::span<const SeqStep>(&step, 1), cache.scratch_);
  cache.n_past_ += n;
}

std::vector<int32_t> Qwen3Model::generate_greedy(const kernels::Context& ctx, std::span<const int32_t> prompt,
                                                 KvCache& cache, int max_new, std::span<const int32_t> stop) const {
  std::vector<int32_t> out;
  if (max_new <= 0) return out;
  std::vector<float> logits(static_cast<size_t>(impl_->cfg.vocab_size));
  forward(ctx, prompt, cache, Logits::kLast, logits);
  out.reserve(static_cast<size_t>(max_new));
  while (true) {
    // argmax; the lowest id wins an exact tie (as numpy/torch argmax).
    const auto best = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(best);
    if (std::find(stop.begin(), stop.end(), best) != stop.end()) break;
    if (static_cast<int>(out.size()) >= max_new) break;
    const int32_t next[1] = {best};
    forward(ctx, next, cache, Logits::kLast, logits);
  }
  return out;
}

}  // namespace qg::model
