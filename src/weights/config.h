// Qwen3Config: the fields of a Qwen3ForCausalLM config.json that the forward pass
// needs, parsed and validated here (weights/ owns file formats; model/config.h
// re-exports the type). Field names follow config.json.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace qg::weights {

// The token-level heads of a Qwen3ForGuardModel (Qwen3Guard-Stream) checkpoint, from
// config.json (shared/spec/QWEN3GUARD.md §4.2). Two head pairs read the final normed
// hidden state: the response pair (risk level, category) and the query pair. Label
// maps are config.json's {"0": "Safe", ...} objects as vectors indexed by head output.
struct StreamHeadsConfig {
  int64_t guard_inner_size = 0;                    // G: width of the *_pre projections
  std::vector<std::string> response_risk_levels;   // response_risk_level_map, [num_risk_level]
  std::vector<std::string> response_categories;    // response_category_map, [num_category]
  std::vector<std::string> query_risk_levels;      // query_risk_level_map, [num_query_risk_level]
  std::vector<std::string> query_categories;       // query_category_map, [num_query_category]
};

struct Qwen3Config {
  std::string architecture = "Qwen3ForCausalLM";  // architectures[0]
  std::string model_type = "qwen3";
  int64_t hidden_size = 0;          // H
  int64_t intermediate_size = 0;    // I (SwiGLU width)
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;  // query heads
  int64_t num_key_value_heads = 0;  // divides num_attention_heads (GQA)
  int64_t head_dim = 0;             // absent in config.json -> hidden_size / num_attention_heads
  int64_t vocab_size = 0;           // embedding rows (151936 for Qwen3)
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 1e6;
  bool tie_word_embeddings = false;
  int32_t bos_token_id = -1;            // -1: none
  std::vector<int32_t> eos_token_ids;   // eos_token_id may be an int or a list
  std::string torch_dtype;              // informational ("bfloat16")
  // Set only for architectures ["Qwen3ForGuardModel"] (Qwen3Guard-Stream).
  std::optional<StreamHeadsConfig> stream;

  bool is_stream() const { return stream.has_value(); }

  int64_t q_dim() const { return num_attention_heads * head_dim; }   // q_proj rows
  int64_t kv_dim() const { return num_key_value_heads * head_dim; }  // k_proj/v_proj rows

  // Parses config.json text; `source` names the file in error messages. Accepts
  // Qwen3ForCausalLM (Gen) and Qwen3ForGuardModel (Stream, with its head sizes and
  // label maps, all required and cross-checked). Refuses other architectures and features this engine does not implement (attention
  // bias, rope scaling, sliding window, activations other than silu).
  static Qwen3Config parse(const std::string& json_text, const std::string& source = "config.json");
  // Reads and parses <dir>/config.json.
  static Qwen3Config load(const std::filesystem::path& dir);
};

// Token ids that end generation: eos_token_id of <dir>/generation_config.json when
// that file exists (it may list several), else the config's own. Deduplicated.
std::vector<int32_t> load_stop_token_ids(const std::filesystem::path& dir, const Qwen3Config& cfg);

}  // namespace qg::weights
