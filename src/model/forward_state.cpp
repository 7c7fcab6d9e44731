// The explicit state the forward pass runs over, apart from the weights:
//  - ForwardScratch (caller-owned): activation buffers that grow to the largest pass
//    seen and never shrink, so a steady stream of forward calls allocates nothing.
//  - KvCache (the single-sequence API): a paged KvStorage with an identity block table
//    and its own scratch, so Qwen3Model::forward is a thin wrapper over model::forward.
#include <algorithm>
#include <cstdlib>
#include <numeric>

#include "base/error.h"
#include "model/forward_scratch.h"
#include "model/qwen3.h"

namespace qg::model {

ForwardScratch::ForwardScratch() : b_(std::make_unique<Buffers>()) {}
ForwardScratch::~ForwardScratch() = default;
ForwardScratch::ForwardScratch(ForwardScratch&&) noexcept = default;
ForwardScratch& ForwardScratch::operator=(ForwardScratch&&) noexcept = default;

ForwardScratch::Buffers& ForwardScratch::buffers() {
  // A moved-from scratch is still usable.
  if (!b_) b_ = std::make_unique<Buffers>();
  return *b_;
}

void ForwardScratch::Buffers::ensure_tokens(const Qwen3Config& c, int64_t n) {
  if (n <= cap_tokens) return;
  cap_tokens = n;
  const auto N = static_cast<size_t>(n);
  x.resize(N * c.hidden_size);
  xn.resize(N * c.hidden_size);
  q.resize(N * c.q_dim());
  k.resize(N * c.kv_dim());
  v.resize(N * c.kv_dim());
  attn.resize(N * c.q_dim());
  gate.resize(N * c.intermediate_size);
  up.resize(N * c.intermediate_size);
  pos.resize(N);
}

void ForwardScratch::Buffers::ensure_logit_rows(const Qwen3Config& c, int64_t m) {
  const auto need_x = static_cast<size_t>(m * c.hidden_size);
  const auto need_l = static_cast<size_t>(m * c.vocab_size);
  if (out_x.size() < need_x) out_x.resize(need_x);
  if (logit_buf.size() < need_l) logit_buf.resize(need_l);
}

KvCache::KvCache(const Qwen3Config& cfg, int64_t n_ctx) : n_ctx_(n_ctx) {
  if (n_ctx <= 0) fail("KvCache: n_ctx must be positive, got ", n_ctx);
  if (n_ctx > cfg.max_position_embeddings) {
    fail("KvCache: n_ctx ", n_ctx, " exceeds the model's max_position_embeddings ", cfg.max_position_embeddings);
  }
  storage_.n_layers = cfg.num_hidden_layers;
  storage_.n_blocks = (n_ctx + kBlockTokens - 1) / kBlockTokens;
  storage_.block_tokens = kBlockTokens;
  storage_.block_stride = kBlockTokens * cfg.kv_dim();
  storage_.dtype = DType::kF32;
  const size_t total = static_cast<size_t>(storage_.n_layers * storage_.n_blocks * storage_.block_stride);
  // calloc: large blocks come from fresh zero pages that are only committed when
  // written (see the class comment in qwen3.h).
  k_.reset(std::calloc(total, sizeof(float)));
  v_.reset(std::calloc(total, sizeof(float)));
  if (!k_ || !v_) fail("KvCache: cannot allocate ", 2 * total * sizeof(float), " bytes for ", n_ctx, " positions");
  storage_.k = k_.get();
  storage_.v = v_.get();
  blocks_.resize(static_cast<size_t>(storage_.n_blocks));
  std::iota(blocks_.begin(), blocks_.end(), 0);
}

KvCache::~KvCache() = default;
KvCache::KvCache(KvCache&&) noexcept = default;
KvCache& KvCache::operator=(KvCache&&) noexcept = default;

size_t KvCache::bytes() const {
  return 2 * static_cast<size_t>(storage_.n_layers * storage_.n_blocks * storage_.block_stride) * sizeof(float);
}

void KvCache::truncate(int64_t n) {
  if (n < 0 || n > n_past_) fail("KvCache::truncate(", n, "): the cache holds ", n_past_, " positions");
  // Positions >= n are simply overwritten by the next forward call; no need to clear them.
  n_past_ = n;
}

}  // namespace qg::model
