// qwen3 GGUF metadata and tensor names (gguf_qwen3.h). The key names and the tensor name
// table are llama.cpp's (LLM_ARCH_QWEN3 in llama-arch.cpp); Qwen3's q/k projections are
// stored unpermuted (rope type NEOX = HF's rotate-half), so tensors map one to one.
#include "weights/gguf_qwen3.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "base/error.h"

namespace qg::weights {

namespace {

struct NamePair {
  const char* gguf;
  const char* hf;
};
// blk.N.<gguf> <-> model.layers.N.<hf>
constexpr NamePair kLayerNames[] = {
    {"attn_norm.weight", "input_layernorm.weight"},
    {"attn_q.weight", "self_attn.q_proj.weight"},
    {"attn_k.weight", "self_attn.k_proj.weight"},
    {"attn_v.weight", "self_attn.v_proj.weight"},
    {"attn_output.weight", "self_attn.o_proj.weight"},
    {"attn_q_norm.weight", "self_attn.q_norm.weight"},
    {"attn_k_norm.weight", "self_attn.k_norm.weight"},
    {"ffn_norm.weight", "post_attention_layernorm.weight"},
    {"ffn_gate.weight", "mlp.gate_proj.weight"},
    {"ffn_up.weight", "mlp.up_proj.weight"},
    {"ffn_down.weight", "mlp.down_proj.weight"},
};
constexpr NamePair kGlobalNames[] = {
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
};

// "<prefix><digits>.<rest>": the layer index and the rest, or -1.
long split_layer(const std::string& s, const std::string& prefix, std::string* rest) {
  if (s.rfind(prefix, 0) != 0) return -1;
  size_t i = prefix.size(), j = i;
  while (j < s.size() && j - i < 6 && s[j] >= '0' && s[j] <= '9') ++j;
  if (j == i || j >= s.size() || s[j] != '.') return -1;
  *rest = s.substr(j + 1);
  return std::strtol(s.c_str() + i, nullptr, 10);
}

}  // namespace

std::string gguf_to_hf_name(const std::string& g, const std::string& where) {
  for (const NamePair& p : kGlobalNames) {
    if (g == p.gguf) return p.hf;
  }
  std::string rest;
  const long layer = split_layer(g, "blk.", &rest);
  if (layer < 0) return g;
  for (const NamePair& p : kLayerNames) {
    if (rest == p.gguf) return cat("model.layers.", layer, ".", p.hf);
  }
  fail(where, ": tensor ", g, " is not part of a Qwen3 layer (this engine knows blk.N.{attn_norm, attn_q, "
       "attn_k, attn_v, attn_output, attn_q_norm, attn_k_norm, ffn_norm, ffn_gate, ffn_up, ffn_down}.weight)");
}

std::optional<std::string> hf_to_gguf_name(const std::string& hf) {
  for (const NamePair& p : kGlobalNames) {
    if (hf == p.hf) return std::string(p.gguf);
  }
  std::string rest;
  const long layer = split_layer(hf, "model.layers.", &rest);
  if (layer < 0) return std::nullopt;
  for (const NamePair& p : kLayerNames) {
    if (rest == p.hf) return cat("blk.", layer, ".", p.gguf);
  }
  return std::nullopt;
}

std::vector<TensorView> gguf_to_hf_views(const GgufFile& f) {
  std::vector<TensorView> out;
  out.reserve(f.tensors().size());
  for (const TensorView& v : f.tensors()) {
    TensorView h = v;
    h.name = gguf_to_hf_name(v.name, v.file);
    out.push_back(std::move(h));
  }
  return out;
}

Qwen3Config qwen3_config_from_gguf(const GgufHeader& h, const std::string& name) {
  const std::string arch = h.get_string("general.architecture", name);
  if (arch != "qwen3") {
    fail(name, ": metadata key general.architecture is \"", arch, "\"; this engine runs qwen3 only");
  }
  auto pos_int = [&](const std::string& key, int64_t max) {
    const int64_t v = h.get_int(key, name);
    if (v < 1 || v > max) fail(name, ": metadata key ", key, " = ", v, " is out of range 1..", max);
    return v;
  };
  Qwen3Config c;
  c.architecture = "Qwen3ForCausalLM";
  c.model_type = "qwen3";
  c.hidden_size = pos_int("qwen3.embedding_length", 1 << 16);
  c.intermediate_size = pos_int("qwen3.feed_forward_length", 1 << 18);
  c.num_hidden_layers = pos_int("qwen3.block_count", 1024);
  c.num_attention_heads = pos_int("qwen3.attention.head_count", 1024);
  c.num_key_value_heads = h.find("qwen3.attention.head_count_kv") != nullptr
                              ? pos_int("qwen3.attention.head_count_kv", 1024)
                              : c.num_attention_heads;
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    fail(name, ": qwen3.attention.head_count ", c.num_attention_heads,
         " is not a multiple of qwen3.attention.head_count_kv ", c.num_key_value_heads);
  }
  c.head_dim = h.find("qwen3.attention.key_length") != nullptr ? pos_int("qwen3.attention.key_length", 1024)
                                                              : c.hidden_size / c.num_attention_heads;
  if (h.find("qwen3.attention.value_length") != nullptr &&
      h.get_int("qwen3.attention.value_length", name) != c.head_dim) {
    fail(name, ": qwen3.attention.value_length differs from key_length ", c.head_dim, " (not supported)");
  }
  if (c.head_dim % 2 != 0) fail(name, ": qwen3.attention.key_length ", c.head_dim, " is odd");
  c.max_position_embeddings = pos_int("qwen3.context_length", 1 << 24);
  c.rope_theta = h.find("qwen3.rope.freq_base") != nullptr ? h.get_float("qwen3.rope.freq_base", name) : 1e6;
  c.rms_norm_eps = h.find("qwen3.attention.layer_norm_rms_epsilon") != nullptr
                       ? h.get_float("qwen3.attention.layer_norm_rms_epsilon", name)
                       : 1e-6;
  if (!(c.rope_theta > 0.0) || !(c.rms_norm_eps > 0.0)) {
    fail(name, ": qwen3.rope.freq_base and qwen3.attention.layer_norm_rms_epsilon must be positive");
  }
  for (const char* key : {"qwen3.rope.scaling.type", "qwen3.rope.scaling.factor"}) {
    if (const GgufValue* v = h.find(key)) {
      const bool none = (v->type == GgufType::kString && (v->str == "none" || v->str.empty())) ||
                        (v->is_float() && v->f == 1.0) || (v->is_int() && v->i == 1);
      if (!none) fail(name, ": metadata key ", key, ": rope scaling is not supported");
    }
  }
  const GgufTensorInfo* embd = nullptr;
  bool has_output = false;
  for (const GgufTensorInfo& t : h.tensors) {
    if (t.name == "token_embd.weight") embd = &t;
    if (t.name == "output.weight") has_output = true;
  }
  if (embd == nullptr || embd->ne.size() != 2) fail(name, ": tensor token_embd.weight is missing or not 2-D");
  c.vocab_size = embd->ne[1];
  c.tie_word_embeddings = !has_output;
  if (const GgufValue* v = h.find("tokenizer.ggml.bos_token_id"); v != nullptr && v->is_int()) {
    c.bos_token_id = static_cast<int32_t>(v->i);
  }
  if (const GgufValue* v = h.find("tokenizer.ggml.eos_token_id"); v != nullptr && v->is_int()) {
    if (v->i < 0 || v->i >= c.vocab_size) {
      fail(name, ": tokenizer.ggml.eos_token_id ", v->i, " is not below the vocabulary size ", c.vocab_size);
    }
    c.eos_token_ids.push_back(static_cast<int32_t>(v->i));
  }
  if (const GgufValue* v = h.find("general.file_type"); v != nullptr && v->is_int()) {
    c.torch_dtype = cat("gguf file_type ", v->i);
  } else {
    c.torch_dtype = "gguf";
  }
  return c;
}

std::vector<int32_t> gguf_stop_token_ids(const GgufHeader& h, const Qwen3Config& cfg) {
  std::vector<int32_t> ids = cfg.eos_token_ids;
  if (const GgufValue* v = h.find("tokenizer.ggml.eot_token_id"); v != nullptr && v->is_int()) {
    if (v->i >= 0 && v->i < cfg.vocab_size) ids.push_back(static_cast<int32_t>(v->i));
  }
  if (const GgufValue* t = h.find("tokenizer.ggml.tokens"); t != nullptr && t->elem == GgufType::kString) {
    for (size_t i = 0; i < t->strs.size() && static_cast<int64_t>(i) < cfg.vocab_size; ++i) {
      if (t->strs[i] == "<|im_end|>" || t->strs[i] == "<|endoftext|>") ids.push_back(static_cast<int32_t>(i));
    }
  }
  std::vector<int32_t> out;
  for (int32_t id : ids) {
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  }
  return out;
}

GgufTokenizerData gguf_tokenizer_data(const GgufHeader& h, const std::string& name) {
  GgufTokenizerData d;
  d.model = h.get_string("tokenizer.ggml.model", name);
  if (h.find("tokenizer.ggml.pre") != nullptr) d.pre = h.get_string("tokenizer.ggml.pre", name);
  auto array = [&](const char* key, GgufType elem) -> const GgufValue& {
    const GgufValue* v = h.find(key);
    if (v == nullptr) fail(name, ": metadata key ", key, " is missing");
    if (v->type != GgufType::kArray || v->elem != elem) {
      fail(name, ": metadata key ", key, ": expected an array of ", gguf_type_name(elem));
    }
    return *v;
  };
  d.tokens = array("tokenizer.ggml.tokens", GgufType::kString).strs;
  if (h.find("tokenizer.ggml.merges") != nullptr) d.merges = array("tokenizer.ggml.merges", GgufType::kString).strs;
  if (const GgufValue* tt = h.find("tokenizer.ggml.token_type")) {
    if (tt->type != GgufType::kArray || !(tt->elem == GgufType::kI32 || tt->elem == GgufType::kU32)) {
      fail(name, ": metadata key tokenizer.ggml.token_type: expected an array of i32");
    }
    if (tt->ints.size() != d.tokens.size()) {
      fail(name, ": metadata key tokenizer.ggml.token_type has ", tt->ints.size(), " entries but tokenizer.ggml.tokens has ",
           d.tokens.size());
    }
    for (int64_t v : tt->ints) d.token_types.push_back(static_cast<int32_t>(v));
  } else {
    d.token_types.assign(d.tokens.size(), 1);
  }
  auto id = [&](const char* key) -> std::optional<int32_t> {
    const GgufValue* v = h.find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_int() || v->i < 0 || v->i >= static_cast<int64_t>(d.tokens.size())) {
      fail(name, ": metadata key ", key, " is not a token id below ", d.tokens.size());
    }
    return static_cast<int32_t>(v->i);
  };
  d.eos_id = id("tokenizer.ggml.eos_token_id");
  d.bos_id = id("tokenizer.ggml.bos_token_id");
  d.pad_id = id("tokenizer.ggml.padding_token_id");
  if (h.find("tokenizer.chat_template") != nullptr) d.chat_template = h.get_string("tokenizer.chat_template", name);
  return d;
}

bool is_gguf_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  std::ifstream f(path, std::ios::binary);
  char magic[4] = {};
  f.read(magic, 4);
  return f.gcount() == 4 && magic[0] == 'G' && magic[1] == 'G' && magic[2] == 'U' && magic[3] == 'F';
}

}  // namespace qg::weights
