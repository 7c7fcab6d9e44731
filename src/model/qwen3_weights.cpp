// Binding of HF tensor names to Qwen3Weights fields, with the per-tensor checks that
// turn "the checkpoint does not match config.json" into a message naming the tensor.
#include "model/qwen3_weights.h"

#include <cstring>
#include <string>

#include "base/error.h"
#include "kernels/quantize.h"
#include "kernels/thread_pool.h"

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

void Qwen3Weights::convert(const kernels::Context& ctx, DType target) {
  QG_CHECK(target == DType::kF32 || target == DType::kBF16 || target == DType::kQ8_0,
           "convert: unsupported target ", dtype_name(target));
  auto conv = [&](kernels::MatRef& m) {
    if (m.dtype == target) return;
    if (target == DType::kQ8_0 && m.cols % 32 != 0) {
      fail("--dtype q8_0: a matrix of ", m.cols, " columns is not a multiple of 32");
    }
    const size_t bytes = dtype_row_bytes(target, m.cols) * static_cast<size_t>(m.rows);
    auto buf = std::make_unique<uint8_t[]>(bytes);
    if (target == DType::kQ8_0 && !dtype_is_quantized(m.dtype)) {
      kernels::quantize_matrix_q8_0(ctx, m, buf.get());
    } else {
      const size_t rb = dtype_row_bytes(target, m.cols);
      ctx.pool().parallel_ranges(m.rows, [&](int64_t r0, int64_t r1, int) {
        std::vector<float> row(static_cast<size_t>(m.cols));
        for (int64_t r = r0; r < r1; ++r) {
          kernels::get_row(m, r, row.data());
          uint8_t* dst = buf.get() + rb * static_cast<size_t>(r);
          if (target == DType::kF32) {
            std::memcpy(dst, row.data(), rb);
          } else if (target == DType::kBF16) {
            auto* o = reinterpret_cast<uint16_t*>(dst);
            for (int64_t j = 0; j < m.cols; ++j) o[j] = f32_to_bf16(row[j]);
          } else {
            kernels::quantize_row_q8_0(row.data(), m.cols, dst);
          }
        }
      }, 16);
    }
    m = kernels::MatRef{buf.get(), target, m.rows, m.cols};
    owned_.push_back(std::move(buf));
  };
  conv(embed_tokens);
  for (LayerWeights& l : layers) {
    for (kernels::MatRef* m : {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj}) {
      conv(*m);
    }
  }
  if (lm_head_is_embedding) {
    lm_head = embed_tokens;
  } else {
    conv(lm_head);
  }
}

}  // namespace qg::model
