// Qwen3Weights: the checkpoint as typed, non-owning views, one field per HF tensor.
// Built from a weights::TensorStore (name -> view) and checked against the config:
// every expected tensor must be present with a supported dtype and exactly the shape
// the config implies, or loading fails naming the tensor. Matrices stay in their
// stored dtype inside the mapping (no f32 copy of a bf16 checkpoint); only the small
// norm vectors are widened to f32 here, because kernels::rmsnorm takes f32 weights.
//
// Shapes use H = hidden_size, I = intermediate_size, V = vocab_size,
// d = head_dim, nh = num_attention_heads, nkv = num_key_value_heads.
#pragma once

#include <memory>
#include <vector>

#include "kernels/kernels.h"
#include "model/config.h"
#include "weights/tensor_store.h"

namespace qg::model {

struct LayerWeights {
  std::vector<float> input_layernorm;           // [H]       model.layers.i.input_layernorm.weight
  kernels::MatRef q_proj;                       // [nh*d, H] self_attn.q_proj.weight
  kernels::MatRef k_proj;                       // [nkv*d, H]
  kernels::MatRef v_proj;                       // [nkv*d, H]
  kernels::MatRef o_proj;                       // [H, nh*d]
  std::vector<float> q_norm;                    // [d]       self_attn.q_norm.weight (per head)
  std::vector<float> k_norm;                    // [d]       self_attn.k_norm.weight
  std::vector<float> post_attention_layernorm;  // [H]
  kernels::MatRef gate_proj;                    // [I, H]    mlp.gate_proj.weight
  kernels::MatRef up_proj;                      // [I, H]
  kernels::MatRef down_proj;                    // [H, I]
};

class Qwen3Weights {
 public:
  // Binds and validates. The store must outlive the result (the views point into it).
  // lm_head.weight: used when present; when absent it is tied to embed_tokens if
  // tie_word_embeddings is true, and an error otherwise. Tensors of layers beyond
  // num_hidden_layers are an error (the config and checkpoint disagree); other
  // unknown tensors are ignored, as transformers ignores unused weights.
  static Qwen3Weights bind(const weights::TensorStore& store, const Qwen3Config& cfg);

  kernels::MatRef embed_tokens;   // [V, H]  model.embed_tokens.weight
  std::vector<LayerWeights> layers;
  std::vector<float> norm;        // [H]     model.norm.weight
  kernels::MatRef lm_head;        // [V, H]  lm_head.weight, or embed_tokens when tied and absent
  bool lm_head_is_embedding = false;

  // `--dtype`: re-encodes every matrix (embed_tokens, the projections, lm_head) in
  // `target` (kF32, kBF16 or kQ8_0) into memory owned by this object; matrices already
  // in `target` stay views. Rows go through the exact f32 value of each stored weight, so
  // bf16 -> q8_0 here gives the blocks llama-quantize Q8_0 writes for the same weights.
  void convert(const kernels::Context& ctx, DType target);

 private:
  std::vector<std::unique_ptr<uint8_t[]>> owned_;  // storage of converted matrices
};

}  // namespace qg::model
