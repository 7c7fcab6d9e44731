// Binding of HF tensor names to Qwen3Weights fields, with the per-tensor checks that
// turn "the checkpoint does not match config.json" into a message naming the tensor.
#include "model/qwen3_weights.h"

#include <string>

#include "base/error.h"

namespace qg::model {

namespace {

using weights::TensorStore;
using weights::TensorView;

const TensorView& expect(const TensorStore& store, const std::string& name, std::vector<int64_t> shape) {
  const TensorView* v = store.find(name);
  if (v == nullptr) {
    fail(store.source(), ": tensor ", name, " is missing (expected shape ",
         weights::shape_to_string(shape), ")");
  }
  if (v->shape != shape) {
    fail(v->file, ": tensor ", name, ": shape ", v->shape_str(), " does not match config.json, which implies ",
         weights::shape_to_string(shape));
  }
  return *v;
}

kernels::MatRef matrix(const TensorStore& store, const std::string& name, int64_t rows, int64_t cols) {
  const TensorView& v = expect(store, name, {rows, cols});
  return kernels::MatRef{v.data, v.dtype, rows, cols};
}

// Norm weights are tiny ([H] or [d]); widening them once keeps the rmsnorm kernel
// single-typed. Exact for every stored dtype.
std::vector<float> vector_f32(const TensorStore& store, const std::string& name, int64_t n) {
  const TensorView& v = expect(store, name, {n});
  std::vector<float> out(static_cast<size_t>(n));
  const kernels::MatRef row{v.data, v.dtype, 1, n};
  kernels::get_row(row, 0, out.data());
  return out;
}

}  // namespace

Qwen3Weights Qwen3Weights::bind(const TensorStore& store, const Qwen3Config& c) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  Qwen3Weights w;
  w.embed_tokens = matrix(store, "model.embed_tokens.weight", V, H);
  w.layers.resize(static_cast<size_t>(c.num_hidden_layers));
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = cat("model.layers.", i, ".");
    LayerWeights& l = w.layers[static_cast<size_t>(i)];
    l.input_layernorm = vector_f32(store, p + "input_layernorm.weight", H);
    l.q_proj = matrix(store, p + "self_attn.q_proj.weight", c.q_dim(), H);
    l.k_proj = matrix(store, p + "self_attn.k_proj.weight", c.kv_dim(), H);
    l.v_proj = matrix(store, p + "self_attn.v_proj.weight", c.kv_dim(), H);
    l.o_proj = matrix(store, p + "self_attn.o_proj.weight", H, c.q_dim());
    l.q_norm = vector_f32(store, p + "self_attn.q_norm.weight", c.head_dim);
    l.k_norm = vector_f32(store, p + "self_attn.k_norm.weight", c.head_dim);
    l.post_attention_layernorm = vector_f32(store, p + "post_attention_layernorm.weight", H);
    l.gate_proj = matrix(store, p + "mlp.gate_proj.weight", I, H);
    l.up_proj = matrix(store, p + "mlp.up_proj.weight", I, H);
    l.down_proj = matrix(store, p + "mlp.down_proj.weight", H, I);
  }
  w.norm = vector_f32(store, "model.norm.weight", H);

  if (store.find("lm_head.weight") != nullptr) {
    // A tied checkpoint may still store a copy; using it is equivalent and costs nothing.
    w.lm_head = matrix(store, "lm_head.weight", V, H);
  } else if (c.tie_word_embeddings) {
    w.lm_head = w.embed_tokens;
    w.lm_head_is_embedding = true;
  } else {
    fail(store.source(), ": tensor lm_head.weight is missing and config.json has tie_word_embeddings false");
  }

  // A layer tensor past the configured depth means config and checkpoint disagree
  // (e.g. an 8B checkpoint with a 0.6B config would otherwise fail with a shape error
  // at best, or silently drop layers at worst).
  for (const std::string& name : store.names()) {
    if (name.rfind("model.layers.", 0) != 0) continue;
    const long idx = std::strtol(name.c_str() + 13, nullptr, 10);
    if (idx >= c.num_hidden_layers) {
      fail(store.find(name)->file, ": tensor ", name, " belongs to layer ", idx,
           " but config.json has num_hidden_layers ", c.num_hidden_layers);
    }
  }
  return w;
}

}  // namespace qg::model
