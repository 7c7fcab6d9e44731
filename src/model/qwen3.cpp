// Qwen3Model: loading (config + safetensors -> typed weights) and the forward pass,
// written as one plain function over explicit state so it reads like the
// architecture (shared/spec/QWEN3GUARD.md §3.1):
//
//   x = embed_tokens[tokens]
//   for each layer:
//     h = rmsnorm(x) * input_layernorm
//     q, k, v = h·Wqᵀ, h·Wkᵀ, h·Wvᵀ         (k, v written straight into the cache rows)
//     q, k = per-head rmsnorm (q_norm, k_norm), then RoPE   — norm BEFORE rotary
//     a = causal GQA attention of q over the cache
//     x += a·Woᵀ
//     h = rmsnorm(x) * post_attention_layernorm
//     x += (silu(h·Wgᵀ) * (h·Wuᵀ))·Wdᵀ
//   logits = (rmsnorm(x) * norm)·W_lmᵀ      only for the positions the caller asked for
//
// Long inputs are processed in chunks of kMaxChunk tokens: attention over the cache
// makes a chunked prefill exactly equal to a one-shot one, and it bounds the scratch
// memory (Activations) independent of the prompt length.
#include "model/qwen3.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "model/activations.h"
#include "model/qwen3_weights.h"
#include "weights/gguf_qwen3.h"
#include "weights/tensor_store.h"

namespace qg::model {

namespace {
constexpr int64_t kMaxChunk = 512;  // tokens per pass through the layers
}  // namespace

struct Qwen3Model::Impl {
  Qwen3Config cfg;
  weights::TensorStore store;  // owns the mappings; `w` points into it
  Qwen3Weights w;
  std::vector<int32_t> stop_ids;
  std::vector<float> inv_freq;  // [d/2] RoPE frequencies θ^(−2j/d), computed in double, rounded to f32
  Activations act;              // shared scratch (per-sequence state is in KvCache)
  std::vector<float> last_logits;  // [V] generate_greedy's buffer
};

Qwen3Model::Qwen3Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Qwen3Model::~Qwen3Model() = default;

std::unique_ptr<Qwen3Model> Qwen3Model::load(const std::filesystem::path& dir) {
  return load(dir, weights::load_mode_from_env_or(weights::LoadMode::kMap));
}

std::unique_ptr<Qwen3Model> Qwen3Model::load(const std::filesystem::path& dir, weights::LoadMode mode) {
  LoadOptions opts;
  opts.mode = mode;
  return load(dir, opts);
}

std::unique_ptr<Qwen3Model> Qwen3Model::load(const std::filesystem::path& dir, const LoadOptions& opts) {
  const weights::LoadMode mode = opts.mode;
  std::unique_ptr<Impl> impl;
  if (weights::is_gguf_file(dir)) {
    weights::TensorStore store = weights::TensorStore::open_gguf(dir, mode);
    Qwen3Config cfg = weights::qwen3_config_from_gguf(*store.gguf(), store.source());
    impl = std::unique_ptr<Impl>(new Impl{cfg, std::move(store), {}, {}, {}, {}, {}});
    impl->stop_ids = weights::gguf_stop_token_ids(*impl->store.gguf(), impl->cfg);
  } else {
    if (!std::filesystem::is_directory(dir)) fail(dir.string(), ": not a checkpoint folder or GGUF file");
    Qwen3Config cfg = Qwen3Config::load(dir);
    impl = std::unique_ptr<Impl>(new Impl{cfg, weights::TensorStore::open(dir, mode), {}, {}, {}, {}, {}});
    impl->stop_ids = weights::load_stop_token_ids(dir, impl->cfg);
  }
  const Qwen3Config& cfg = impl->cfg;
  impl->w = Qwen3Weights::bind(impl->store, impl->cfg);
  if (opts.dtype.has_value()) {
    const kernels::Context ctx(0);
    impl->w.convert(ctx, *opts.dtype);
  }
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
size_t Qwen3Model::checkpoint_bytes() const { return impl_->store.total_bytes(); }

KvCache Qwen3Model::make_cache(int64_t n_ctx) const {
  return KvCache(impl_->cfg, n_ctx > 0 ? n_ctx : impl_->cfg.max_position_embeddings);
}

void Qwen3Model::forward(const kernels::Context& ctx, std::span<const int32_t> tokens, KvCache& cache,
                         Logits which, std::span<float> out, std::span<const int32_t> vocab_rows) {
  const Qwen3Config& c = impl_->cfg;
  const Qwen3Weights& w = impl_->w;
  Activations& a = impl_->act;
  const auto n_total = static_cast<int64_t>(tokens.size());
  const int64_t H = c.hidden_size, I = c.intermediate_size, d = c.head_dim;
  const int64_t nh = c.num_attention_heads, nkv = c.num_key_value_heads;
  const auto eps = static_cast<float>(c.rms_norm_eps);
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));

  // ---- Validate everything before touching the cache: a bad call changes nothing.
  if (n_total == 0) fail("forward: no tokens");
  if (cache.n_layers_ != c.num_hidden_layers || cache.row_floats_ != c.kv_dim()) {
    fail("forward: the KV cache was made for a different model shape");
  }
  if (cache.n_past() + n_total > cache.n_ctx()) {
    fail("forward: ", n_total, " tokens after ", cache.n_past(), " cached positions overflow the cache of ",
         cache.n_ctx(), " positions");
  }
  for (int64_t i = 0; i < n_total; ++i) {
    if (tokens[i] < 0 || tokens[i] >= c.vocab_size) {
      fail("forward: token id ", tokens[i], " at index ", i, " is outside the vocabulary [0, ", c.vocab_size, ")");
    }
  }
  for (size_t i = 0; i < vocab_rows.size(); ++i) {
    if (vocab_rows[i] < 0 || vocab_rows[i] >= c.vocab_size) {
      fail("forward: vocab row ", vocab_rows[i], " is outside the vocabulary [0, ", c.vocab_size, ")");
    }
  }
  const int64_t n_out = vocab_rows.empty() ? c.vocab_size : static_cast<int64_t>(vocab_rows.size());
  const int64_t need = which == Logits::kAll ? n_total * n_out : which == Logits::kLast ? n_out : 0;
  if (static_cast<int64_t>(out.size()) < need) {
    fail("forward: output span holds ", out.size(), " floats, ", need, " needed");
  }

  const int64_t chunk_cap = std::min(n_total, kMaxChunk);
  a.ensure(ctx, c, chunk_cap, cache.n_ctx());

  for (int64_t c0 = 0; c0 < n_total; c0 += kMaxChunk) {
    const int64_t n = std::min(kMaxChunk, n_total - c0);
    const int64_t pos0 = cache.n_past();
    float* x = a.x.data();  // [n, H]
    float* xn = a.xn.data();  // [n, H]
    for (int64_t i = 0; i < n; ++i) {
      a.pos[i] = static_cast<int32_t>(pos0 + i);
      kernels::get_row(w.embed_tokens, tokens[c0 + i], x + i * H);
    }

    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
      const LayerWeights& L = w.layers[static_cast<size_t>(l)];
      float* kc = cache.k_layer(l);                      // [n_ctx, nkv, d]
      float* vc = cache.v_layer(l);                      // [n_ctx, nkv, d]
      float* k_new = kc + pos0 * cache.row_floats_;      // [n, nkv, d] rows of the new tokens
      float* v_new = vc + pos0 * cache.row_floats_;      // [n, nkv, d]

      // Attention block.
      kernels::rmsnorm(ctx, x, L.input_layernorm.data(), n, H, eps, xn);
      kernels::matmul(ctx, L.q_proj, xn, n, a.q.data());  // [n, nh*d]
      kernels::matmul(ctx, L.k_proj, xn, n, k_new);
      kernels::matmul(ctx, L.v_proj, xn, n, v_new);
      // Qwen3's per-head q/k RMSNorm over head_dim, before RoPE.
      kernels::rmsnorm(ctx, a.q.data(), L.q_norm.data(), n * nh, d, eps, a.q.data());
      kernels::rmsnorm(ctx, k_new, L.k_norm.data(), n * nkv, d, eps, k_new);
      kernels::rope(ctx, a.q.data(), n, nh, d, a.pos.data(), impl_->inv_freq.data());
      kernels::rope(ctx, k_new, n, nkv, d, a.pos.data(), impl_->inv_freq.data());
      kernels::attention(ctx, a.q.data(), n, pos0, kc, vc, nh, nkv, d, scale, a.attn.data(), a.scratch.data());
      kernels::matmul(ctx, L.o_proj, a.attn.data(), n, xn);  // [n, H]
      kernels::add(ctx, x, xn, n * H, x);

      // MLP block (SwiGLU).
      kernels::rmsnorm(ctx, x, L.post_attention_layernorm.data(), n, H, eps, xn);
      kernels::matmul(ctx, L.gate_proj, xn, n, a.gate.data());  // [n, I]
      kernels::matmul(ctx, L.up_proj, xn, n, a.up.data());      // [n, I]
      kernels::silu_mul(ctx, a.gate.data(), a.up.data(), n * I, a.gate.data());
      kernels::matmul(ctx, L.down_proj, a.gate.data(), n, xn);  // [n, H]
      kernels::add(ctx, x, xn, n * H, x);
    }
    cache.n_past_ = pos0 + n;

    // Final norm and lm_head only for the rows the caller wants.
    int64_t r0 = 0, nr = 0;
    float* dst = nullptr;
    if (which == Logits::kAll) {
      r0 = 0, nr = n, dst = out.data() + c0 * n_out;
    } else if (which == Logits::kLast && c0 + n == n_total) {
      r0 = n - 1, nr = 1, dst = out.data();
    }
    if (nr == 0) continue;
    kernels::rmsnorm(ctx, x + r0 * H, w.norm.data(), nr, H, eps, xn);
    if (vocab_rows.empty()) {
      kernels::matmul(ctx, w.lm_head, xn, nr, dst);
    } else {
      kernels::matmul_rows(ctx, w.lm_head, vocab_rows.data(), n_out, xn, nr, dst);
    }
  }
}

std::vector<int32_t> Qwen3Model::generate_greedy(const kernels::Context& ctx, std::span<const int32_t> prompt,
                                                 KvCache& cache, int max_new, std::span<const int32_t> stop) {
  std::vector<int32_t> out;
  if (max_new <= 0) return out;
  std::vector<float>& logits = impl_->last_logits;
  logits.resize(static_cast<size_t>(impl_->cfg.vocab_size));
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
