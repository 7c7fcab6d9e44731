// config.json / generation_config.json parsing for Qwen3 checkpoints. Every error
// names the file and the JSON path (config.json: /num_key_value_heads: ...).
#include "weights/config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.h"
#include "base/file.h"
#include "base/limits.h"

namespace qg::weights {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json parse_json(const std::string& text, const std::string& source) {
  limits::check_json_depth(text, source);
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    fail(source, ": not valid JSON (byte ", e.byte, "): ", e.what());
  } catch (const json::exception& e) {  // e.g. a number out of range (1e400)
    fail(source, ": not valid JSON: ", e.what());
  }
}

// A value for a message: short, whatever the input (an error must not echo megabytes).
std::string brief(const json& v) {
  std::string s = v.dump();
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

// Reads a required positive integer field.
// Reads a required integer field in [1, max]. The upper bound is checked before anything
// is sized from the value (a num_hidden_layers of 10^7 must not allocate 10^7 layers).
int64_t get_positive(const json& j, const char* key, const std::string& src, int64_t max) {
  if (!j.contains(key)) fail(src, ": /", key, " is missing");
  const json& v = j[key];
  if (!v.is_number_integer()) fail(src, ": /", key, " must be an integer, got ", brief(v));
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(max)) {
    fail(src, ": /", key, " ", brief(v), " is out of range (allowed: 1 to ", max, ")");
  }
  const int64_t n = v.get<int64_t>();
  if (n <= 0 || n > max) fail(src, ": /", key, " ", n, " is out of range (allowed: 1 to ", max, ")");
  return n;
}

double get_positive_number(const json& j, const char* key, double fallback, const std::string& src) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  const json& v = j[key];
  if (!v.is_number()) fail(src, ": /", key, " must be a number, got ", brief(v));
  const double x = v.get<double>();
  if (!(x > 0) || !std::isfinite(x)) fail(src, ": /", key, " must be a positive finite number, got ", brief(v));
  return x;
}

// eos_token_id: int, list of ints, or null/absent.
std::vector<int32_t> get_ids(const json& j, const char* key, const std::string& src) {
  std::vector<int32_t> out;
  if (!j.contains(key) || j[key].is_null()) return out;
  const json& v = j[key];
  auto one = [&](const json& x) {
    if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() > INT32_MAX) {
      fail(src, ": /", key, " must hold non-negative token ids, got ", brief(v));
    }
    const auto id = static_cast<int32_t>(x.get<int64_t>());
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  };
  if (v.is_array()) {
    for (const auto& x : v) one(x);
  } else {
    one(v);
  }
  return out;
}

bool get_bool(const json& j, const char* key, bool fallback, const std::string& src) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_boolean()) fail(src, ": /", key, " must be true or false, got ", brief(j[key]));
  return j[key].get<bool>();
}

// A label map {"0": "Safe", "1": "Unsafe", ...}: exactly the keys "0".."n-1" (n = the
// head size from `count_key`, or the map's size when that key is absent), each a
// non-empty string. Anything else is refused: a label we cannot index is a label we
// would report wrongly.
std::vector<std::string> get_label_map(const json& j, const char* map_key, const char* count_key,
                                       const std::string& src) {
  if (!j.contains(map_key)) fail(src, ": /", map_key, " is missing (Qwen3ForGuardModel needs its label maps)");
  const json& m = j[map_key];
  if (!m.is_object() || m.empty()) fail(src, ": /", map_key, " must be a non-empty object {\"0\": label, ...}");
  int64_t n = static_cast<int64_t>(m.size());
  if (j.contains(count_key)) {
    n = get_positive(j, count_key, src, 4096);
    if (n != static_cast<int64_t>(m.size())) {
      fail(src, ": /", map_key, " has ", m.size(), " entries but /", count_key, " is ", n);
    }
  }
  if (n > 4096) fail(src, ": /", map_key, ": ", n, " labels is more than this engine accepts (4096)");
  std::vector<std::string> out(static_cast<size_t>(n));
  for (const auto& [key, value] : m.items()) {
    size_t used = 0;
    long idx = -1;
    try {
      idx = std::stol(key, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != key.size() || key.empty() || idx < 0 || idx >= n || std::to_string(idx) != key) {
      fail(src, ": /", map_key, "/", key, ": keys must be the indices \"0\"..\"", n - 1, "\"");
    }
    if (!value.is_string() || value.get<std::string>().empty()) {
      fail(src, ": /", map_key, "/", key, " must be a non-empty string, got ", brief(value));
    }
    out[static_cast<size_t>(idx)] = value.get<std::string>();
  }
  return out;  // n distinct valid keys into n slots: every slot is filled
}

StreamHeadsConfig parse_stream_heads(const json& j, const std::string& src) {
  StreamHeadsConfig s;
  s.guard_inner_size = get_positive(j, "guard_inner_size", src, limits::kMaxIntermediateSize);
  s.response_risk_levels = get_label_map(j, "response_risk_level_map", "num_risk_level", src);
  s.response_categories = get_label_map(j, "response_category_map", "num_category", src);
  s.query_risk_levels = get_label_map(j, "query_risk_level_map", "num_query_risk_level", src);
  s.query_categories = get_label_map(j, "query_category_map", "num_query_category", src);
  return s;
}

}  // namespace

Qwen3Config Qwen3Config::parse(const std::string& json_text, const std::string& src) {
  const json j = parse_json(json_text, src);
  if (!j.is_object()) fail(src, ": top level is not a JSON object");
  Qwen3Config c;

  if (!j.contains("architectures") || !j["architectures"].is_array() || j["architectures"].empty() ||
      !j["architectures"][0].is_string()) {
    fail(src, ": /architectures is missing; expected [\"Qwen3ForCausalLM\"]");
  }
  c.architecture = j["architectures"][0].get<std::string>();
  if (c.architecture != "Qwen3ForCausalLM" && c.architecture != "Qwen3ForGuardModel") {
    fail(src, ": /architectures: unsupported architecture \"", c.architecture,
         "\"; this engine runs Qwen3ForCausalLM (Qwen3Guard-Gen) and Qwen3ForGuardModel "
         "(Qwen3Guard-Stream) checkpoints");
  }
  if (j.contains("model_type") && j["model_type"].is_string()) {
    c.model_type = j["model_type"].get<std::string>();
    if (c.model_type != "qwen3") fail(src, ": /model_type: expected \"qwen3\", got \"", c.model_type, "\"");
  }

  c.hidden_size = get_positive(j, "hidden_size", src, limits::kMaxHiddenSize);
  c.intermediate_size = get_positive(j, "intermediate_size", src, limits::kMaxIntermediateSize);
  c.num_hidden_layers = get_positive(j, "num_hidden_layers", src, limits::kMaxLayers);
  c.num_attention_heads = get_positive(j, "num_attention_heads", src, limits::kMaxHeads);
  c.num_key_value_heads = j.contains("num_key_value_heads") && !j["num_key_value_heads"].is_null()
                              ? get_positive(j, "num_key_value_heads", src, limits::kMaxHeads)
                              : c.num_attention_heads;  // HF default: plain multi-head attention
  c.vocab_size = get_positive(j, "vocab_size", src, limits::kMaxVocabSize);
  if (j.contains("head_dim") && !j["head_dim"].is_null()) {
    c.head_dim = get_positive(j, "head_dim", src, limits::kMaxHeadDim);
  } else {
    if (c.hidden_size % c.num_attention_heads != 0) {
      fail(src, ": /head_dim is absent and hidden_size ", c.hidden_size,
           " is not divisible by num_attention_heads ", c.num_attention_heads);
    }
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (c.q_dim() > limits::kMaxHiddenSize * 4) {
    fail(src, ": num_attention_heads x head_dim = ", c.q_dim(), " is out of range (allowed: up to ",
         limits::kMaxHiddenSize * 4, ")");
  }
  c.max_position_embeddings = j.contains("max_position_embeddings")
                                  ? get_positive(j, "max_position_embeddings", src, limits::kMaxPositions)
                                  : 32768;
  c.rms_norm_eps = get_positive_number(j, "rms_norm_eps", 1e-6, src);
  c.rope_theta = get_positive_number(j, "rope_theta", 10000.0, src);  // HF Qwen3Config default
  // RoPE needs theta > 1 (inv_freq = theta^(-2i/d) must decrease); eps must be small
  // against unit-scale activations. Outside these the forward pass computes garbage
  // that still yields a confident-looking verdict.
  if (!(c.rope_theta > 1.0) || c.rope_theta > 1e12) {
    fail(src, ": /rope_theta ", c.rope_theta, " is out of range (allowed: above 1, up to 1e12)");
  }
  if (c.rms_norm_eps > 0.1 || c.rms_norm_eps < 1e-30) {
    fail(src, ": /rms_norm_eps ", c.rms_norm_eps, " is out of range (allowed: 1e-30 to 0.1)");
  }
  c.tie_word_embeddings = get_bool(j, "tie_word_embeddings", false, src);
  if (j.contains("torch_dtype") && j["torch_dtype"].is_string()) c.torch_dtype = j["torch_dtype"];

  const auto bos = get_ids(j, "bos_token_id", src);
  c.bos_token_id = bos.empty() ? -1 : bos[0];
  c.eos_token_ids = get_ids(j, "eos_token_id", src);

  // Shape rules the forward pass relies on.
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    fail(src, ": /num_key_value_heads ", c.num_key_value_heads, " must divide num_attention_heads ",
         c.num_attention_heads);
  }
  if (c.head_dim % 2 != 0) fail(src, ": /head_dim ", c.head_dim, " must be even (rotate-half RoPE)");
  if (c.vocab_size > INT32_MAX) fail(src, ": /vocab_size ", c.vocab_size, " does not fit token ids");
  for (int32_t id : c.eos_token_ids) {
    if (id >= c.vocab_size) fail(src, ": /eos_token_id ", id, " is not below vocab_size ", c.vocab_size);
  }

  // Features of the wider HF Qwen3 family that this engine does not implement:
  // refuse rather than compute something else.
  if (get_bool(j, "attention_bias", false, src)) fail(src, ": /attention_bias true is not supported");
  if (j.contains("hidden_act") && j["hidden_act"] != "silu") {
    fail(src, ": /hidden_act ", brief(j["hidden_act"]), " is not supported (only \"silu\")");
  }
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    fail(src, ": /rope_scaling ", brief(j["rope_scaling"]), " is not supported (only null)");
  }
  if (get_bool(j, "use_sliding_window", false, src)) fail(src, ": /use_sliding_window true is not supported");
  if (c.architecture == "Qwen3ForGuardModel") {
    try {
      c.stream = parse_stream_heads(j, src);
    } catch (const Error& e) {
      fail(e.what(), " [architectures Qwen3ForGuardModel]");
    }
  }
  return c;
}

Qwen3Config Qwen3Config::load(const fs::path& dir) {
  const fs::path p = dir / "config.json";
  if (!fs::exists(p)) fail(dir.string(), ": no config.json in this folder");
  return parse(qg::read_file(p), "config.json");
}

std::vector<int32_t> load_stop_token_ids(const fs::path& dir, const Qwen3Config& cfg) {
  std::vector<int32_t> ids;
  const fs::path p = dir / "generation_config.json";
  if (fs::exists(p)) {
    const json j = parse_json(qg::read_file(p), "generation_config.json");
    if (j.is_object()) ids = get_ids(j, "eos_token_id", "generation_config.json");
  }
  for (int32_t id : cfg.eos_token_ids) {
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  for (int32_t id : ids) {
    if (id >= cfg.vocab_size) fail("generation_config.json: /eos_token_id ", id, " is not below vocab_size ",
                                   cfg.vocab_size);
  }
  return ids;
}

}  // namespace qg::weights
