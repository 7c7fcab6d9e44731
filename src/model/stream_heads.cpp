// Binding and computation of the Qwen3Guard-Stream heads (see stream_heads.h).
#include "model/stream_heads.h"

#include <algorithm>
#include <set>

#include "base/error.h"

namespace qg::model {

namespace {

using weights::TensorStore;
using weights::TensorView;

const TensorView& expect(const TensorStore& store, const std::string& name, std::vector<int64_t> shape,
                         const char* why) {
  const TensorView* v = store.find(name);
  if (v == nullptr) {
    fail(store.source(), ": tensor ", name, " is missing (expected shape ", weights::shape_to_string(shape),
         "; a Qwen3ForGuardModel checkpoint carries both Stream head pairs)");
  }
  if (v->shape != shape) {
    fail(v->file, ": tensor ", name, ": shape ", v->shape_str(), " does not match config.json, which implies ",
         weights::shape_to_string(shape), " (", why, ")");
  }
  return *v;
}

kernels::MatRef matrix(const TensorStore& store, const std::string& name, int64_t rows, int64_t cols,
                       const char* why) {
  const TensorView& v = expect(store, name, {rows, cols}, why);
  return kernels::MatRef{v.data, v.dtype, rows, cols};
}

StreamHeadPair bind_pair(const TensorStore& store, const std::string& p, int64_t H, int64_t G, int64_t n_risk,
                         int64_t n_cat, const char* risk_why, const char* cat_why) {
  StreamHeadPair pair;
  pair.pre = matrix(store, p + "risk_level_category_pre.weight", G, H, "[guard_inner_size, hidden_size]");
  const TensorView& ln = expect(store, p + "risk_level_category_layernorm.weight", {G}, "[guard_inner_size]");
  pair.norm.resize(static_cast<size_t>(G));
  kernels::get_row(kernels::MatRef{ln.data, ln.dtype, 1, G}, 0, pair.norm.data());
  pair.risk = matrix(store, p + "risk_level_head.weight", n_risk, G, risk_why);
  pair.category = matrix(store, p + "category_head.weight", n_cat, G, cat_why);
  return pair;
}

// Every tensor name the backbone and the heads read, for the "nothing dropped" check.
std::set<std::string> known_names(const Qwen3Config& c) {
  std::set<std::string> k = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"};
  static const char* kLayer[] = {"input_layernorm.weight",        "self_attn.q_proj.weight",
                                 "self_attn.k_proj.weight",       "self_attn.v_proj.weight",
                                 "self_attn.o_proj.weight",       "self_attn.q_norm.weight",
                                 "self_attn.k_norm.weight",       "post_attention_layernorm.weight",
                                 "mlp.gate_proj.weight",          "mlp.up_proj.weight",
                                 "mlp.down_proj.weight"};
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    for (const char* s : kLayer) k.insert(cat("model.layers.", i, ".", s));
  }
  for (const char* p : {"", "query_"}) {
    for (const char* s : {"risk_level_category_pre.weight", "risk_level_category_layernorm.weight",
                          "risk_level_head.weight", "category_head.weight"}) {
      k.insert(cat(p, s));
    }
  }
  return k;
}

}  // namespace

StreamHeadWeights StreamHeadWeights::bind(const TensorStore& store, const Qwen3Config& c) {
  QG_CHECK(c.stream.has_value(), "StreamHeadWeights::bind on a config without Stream heads");
  const auto& s = *c.stream;
  const int64_t H = c.hidden_size, G = s.guard_inner_size;
  StreamHeadWeights w;
  w.response = bind_pair(store, "", H, G, static_cast<int64_t>(s.response_risk_levels.size()),
                         static_cast<int64_t>(s.response_categories.size()),
                         "[num_risk_level (response_risk_level_map), guard_inner_size]",
                         "[num_category (response_category_map), guard_inner_size]");
  w.query = bind_pair(store, "query_", H, G, static_cast<int64_t>(s.query_risk_levels.size()),
                      static_cast<int64_t>(s.query_categories.size()),
                      "[num_query_risk_level (query_risk_level_map), guard_inner_size]",
                      "[num_query_category (query_category_map), guard_inner_size]");
  // transformers would warn and drop an unused tensor; for a classifier whose head
  // layout we inferred from ports, an unexpected tensor means we may be computing
  // something other than the model, so it is an error.
  const std::set<std::string> known = known_names(c);
  for (const std::string& name : store.names()) {
    if (known.count(name) == 0) {
      fail(store.find(name)->file, ": tensor ", name,
           " is not part of a Qwen3ForGuardModel as this engine implements it (backbone model.*, "
           "lm_head, and the response and query_ head pairs); refusing to ignore it");
    }
  }
  return w;
}

void stream_heads(const kernels::Context& ctx, const StreamHeadWeights& w, const Qwen3Config& cfg,
                  const float* hidden, int64_t n, StreamHeadLogits& out, StreamHeadScratch& scratch) {
  QG_CHECK(cfg.stream.has_value(), "stream_heads on a config without Stream heads");
  const int64_t G = cfg.stream->guard_inner_size;
  const auto eps = static_cast<float>(cfg.rms_norm_eps);
  out.n = n;
  out.n_risk = w.n_risk();
  out.n_category = w.n_category();
  out.n_query_risk = w.n_query_risk();
  out.n_query_category = w.n_query_category();
  const int64_t width = out.width();
  out.all.resize(static_cast<size_t>(n * width));
  if (n == 0) return;
  const int64_t max_rows = std::max({out.n_risk, out.n_category, out.n_query_risk, out.n_query_category});
  if (scratch.x.size() < static_cast<size_t>(n * G)) scratch.x.resize(static_cast<size_t>(n * G));
  if (scratch.out.size() < static_cast<size_t>(n * max_rows)) scratch.out.resize(static_cast<size_t>(n * max_rows));
  float* x = scratch.x.data();      // [n, G]
  float* y = scratch.out.data();    // [n, rows of one head]

  // One head's [n, rows] logits into columns [off, off + rows) of out.all.
  auto head = [&](const kernels::MatRef& m, int64_t off) {
    kernels::matmul(ctx, m, x, n, y);
    for (int64_t i = 0; i < n; ++i) {
      std::copy(y + i * m.rows, y + (i + 1) * m.rows, out.all.data() + i * width + off);
    }
  };
  int64_t off = 0;
  for (const StreamHeadPair* p : {&w.response, &w.query}) {
    kernels::matmul(ctx, p->pre, hidden, n, x);                 // [n, G]
    kernels::rmsnorm(ctx, x, p->norm.data(), n, G, eps, x);     // in place (x may alias y)
    head(p->risk, off);
    off += p->risk.rows;
    head(p->category, off);
    off += p->category.rows;
  }
}

}  // namespace qg::model
