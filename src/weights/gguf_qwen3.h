// GGUF files of architecture "qwen3" (as llama.cpp's convert_hf_to_gguf.py writes them):
// the metadata -> Qwen3Config mapping, and the one table of GGUF tensor names -> HF names,
// so model/ binds a GGUF checkpoint exactly as a safetensors one. Tokenizer metadata is
// exposed raw (weights/ knows formats, not tokenizers): guard/checkpoint.h builds the
// tokenizer and chat template from it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "weights/config.h"
#include "weights/gguf.h"

namespace qg::weights {

// "blk.3.attn_q.weight" -> "model.layers.3.self_attn.q_proj.weight", "token_embd.weight" ->
// "model.embed_tokens.weight", "output_norm.weight" -> "model.norm.weight", "output.weight"
// -> "lm_head.weight". Throws naming `where` for a blk.N tensor this engine does not know
// (e.g. a bias: Qwen3 has none, and ignoring it would change the model); other names are
// returned unchanged (unused tensors are ignored, as transformers does).
std::string gguf_to_hf_name(const std::string& gguf_name, const std::string& where);
// The inverse, for tools and tests (nullopt for names outside the table).
std::optional<std::string> hf_to_gguf_name(const std::string& hf_name);

// The file's tensors under HF names.
std::vector<TensorView> gguf_to_hf_views(const GgufFile& f);

// qwen3.* keys -> config: embedding_length (H), feed_forward_length (I), block_count,
// attention.head_count(_kv), attention.key_length (head_dim; value_length must match),
// context_length, rope.freq_base, attention.layer_norm_rms_epsilon; vocab_size from
// token_embd's rows; tie_word_embeddings when output.weight is absent. Refuses other
// architectures and rope scaling, naming the key.
Qwen3Config qwen3_config_from_gguf(const GgufHeader& h, const std::string& name);

// End-of-generation ids: tokenizer.ggml.eos_token_id and eot_token_id when present, plus
// <|im_end|> and <|endoftext|> when the vocabulary has them (llama.cpp treats those as
// end of generation for Qwen; the HF checkpoints list both in generation_config.json).
std::vector<int32_t> gguf_stop_token_ids(const GgufHeader& h, const Qwen3Config& cfg);

// The tokenizer.* metadata of a GGUF file, as plain vectors.
struct GgufTokenizerData {
  std::string model;                // tokenizer.ggml.model ("gpt2")
  std::string pre;                  // tokenizer.ggml.pre ("qwen2"), may be empty
  std::vector<std::string> tokens;  // tokenizer.ggml.tokens, id order
  std::vector<int32_t> token_types; // tokenizer.ggml.token_type (1 normal, 3 control, 4 user defined, ...)
  std::vector<std::string> merges;  // tokenizer.ggml.merges, "a b", rank order
  std::optional<int32_t> eos_id, bos_id, pad_id;
  std::optional<std::string> chat_template;  // tokenizer.chat_template
};
// Throws naming the key when tokens/merges are missing or inconsistent (lengths differ,
// an id out of range).
GgufTokenizerData gguf_tokenizer_data(const GgufHeader& h, const std::string& name);

// True when `path` is a regular file that starts with the GGUF magic.
bool is_gguf_file(const std::filesystem::path& path);

}  // namespace qg::weights
