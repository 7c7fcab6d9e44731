// Test helper: writes safetensors files and whole tiny Qwen3 checkpoints from C++,
// so the weights/ and model/ unit tests need neither Python nor fixtures and can run
// under the sanitizers. Files can be written correct or deliberately broken (raw
// header text, truncation) to test every rejection path of the reader.
//
// Not a production writer: header-only, test use only.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "base/dtype.h"

namespace qg::testutil {

namespace fs = std::filesystem;

struct TensorSpec {
  std::string name;
  std::string dtype;             // "F32", "BF16", "F16" (or anything, to test rejection)
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;    // raw little-endian data
};

inline std::vector<uint8_t> encode(const std::vector<float>& v, const std::string& dtype) {
  std::vector<uint8_t> out;
  if (dtype == "F32") {
    out.resize(v.size() * 4);
    std::memcpy(out.data(), v.data(), out.size());
  } else {
    out.resize(v.size() * 2);
    for (size_t i = 0; i < v.size(); ++i) {
      const uint16_t h = dtype == "BF16" ? f32_to_bf16(v[i]) : f32_to_f16(v[i]);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
  }
  return out;
}

// The JSON header for tensors laid out back to back (what a correct writer emits).
inline nlohmann::json header_for(const std::vector<TensorSpec>& ts) {
  nlohmann::json h = nlohmann::json::object();
  uint64_t off = 0;
  for (const auto& t : ts) {
    h[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {off, off + t.bytes.size()}}};
    off += t.bytes.size();
  }
  h["__metadata__"] = {{"format", "pt"}};
  return h;
}

// Writes u64 length + header text (padded to 8 bytes) + the tensors' bytes.
// `header_text` overrides the JSON (for corruption tests); `declared_len` overrides
// the length field; `truncate_to` cuts the file.
struct WriteOptions {
  std::string header_text;
  int64_t declared_len = -1;
  int64_t truncate_to = -1;
};

inline void write_safetensors(const fs::path& path, const std::vector<TensorSpec>& ts, const WriteOptions& o = {}) {
  std::string header = o.header_text.empty() ? header_for(ts).dump() : o.header_text;
  while (header.size() % 8) header.push_back(' ');
  std::string file;
  const uint64_t len = o.declared_len >= 0 ? static_cast<uint64_t>(o.declared_len) : header.size();
  for (int i = 0; i < 8; ++i) file.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
  file += header;
  for (const auto& t : ts) file.append(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
  if (o.truncate_to >= 0) file.resize(static_cast<size_t>(o.truncate_to));
  std::ofstream f(path, std::ios::binary);
  f.write(file.data(), static_cast<std::streamsize>(file.size()));
}

inline void write_text(const fs::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

// A tiny Qwen3 shape; the tests vary it.
struct TinyShape {
  int64_t hidden = 32, intermediate = 48, layers = 2, heads = 4, kv_heads = 2, head_dim = 8, vocab = 97;
  bool tie = true;
  bool write_lm_head = false;
  std::string dtype = "F32";
  int shards = 1;
  uint32_t seed = 1;
};

inline nlohmann::json config_json(const TinyShape& s) {
  return {{"architectures", {"Qwen3ForCausalLM"}},
          {"model_type", "qwen3"},
          {"hidden_size", s.hidden},
          {"intermediate_size", s.intermediate},
          {"num_hidden_layers", s.layers},
          {"num_attention_heads", s.heads},
          {"num_key_value_heads", s.kv_heads},
          {"head_dim", s.head_dim},
          {"vocab_size", s.vocab},
          {"max_position_embeddings", 2048},
          {"rms_norm_eps", 1e-6},
          {"rope_theta", 10000.0},
          {"tie_word_embeddings", s.tie},
          {"bos_token_id", s.vocab - 2},
          {"eos_token_id", s.vocab - 1},
          {"hidden_act", "silu"},
          {"attention_bias", false},
          {"rope_scaling", nullptr}};
}

// All tensors of a tiny Qwen3 with random weights at O(1)-preserving scales.
inline std::vector<TensorSpec> qwen3_tensors(const TinyShape& s) {
  std::mt19937 rng(s.seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  auto mat = [&](const std::string& name, int64_t r, int64_t c, float scale) {
    std::vector<float> v(static_cast<size_t>(r * c));
    for (auto& x : v) x = nd(rng) * scale;
    return TensorSpec{name, s.dtype, {r, c}, encode(v, s.dtype)};
  };
  auto vec = [&](const std::string& name, int64_t n) {
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = 1.0f + 0.1f * nd(rng);
    return TensorSpec{name, s.dtype, {n}, encode(v, s.dtype)};
  };
  const int64_t H = s.hidden, q = s.heads * s.head_dim, kv = s.kv_heads * s.head_dim;
  const float ph = 1.0f / std::sqrt(static_cast<float>(H));
  std::vector<TensorSpec> ts;
  ts.push_back(mat("model.embed_tokens.weight", s.vocab, H, 3.0f * ph));
  for (int64_t i = 0; i < s.layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    ts.push_back(vec(p + "input_layernorm.weight", H));
    ts.push_back(mat(p + "self_attn.q_proj.weight", q, H, ph));
    ts.push_back(mat(p + "self_attn.k_proj.weight", kv, H, ph));
    ts.push_back(mat(p + "self_attn.v_proj.weight", kv, H, ph));
    ts.push_back(mat(p + "self_attn.o_proj.weight", H, q, 1.0f / std::sqrt(static_cast<float>(q))));
    ts.push_back(vec(p + "self_attn.q_norm.weight", s.head_dim));
    ts.push_back(vec(p + "self_attn.k_norm.weight", s.head_dim));
    ts.push_back(vec(p + "post_attention_layernorm.weight", H));
    ts.push_back(mat(p + "mlp.gate_proj.weight", s.intermediate, H, ph));
    ts.push_back(mat(p + "mlp.up_proj.weight", s.intermediate, H, ph));
    ts.push_back(mat(p + "mlp.down_proj.weight", H, s.intermediate,
                     1.0f / std::sqrt(static_cast<float>(s.intermediate))));
  }
  ts.push_back(vec("model.norm.weight", H));
  if (!s.tie || s.write_lm_head) ts.push_back(mat("lm_head.weight", s.vocab, H, 3.0f * ph));
  return ts;
}

// Writes config.json and the tensors (single file or `shards` files + index) to dir.
// `edit` may change the tensor list before writing (drop, reshape, ...).
inline void write_checkpoint(const fs::path& dir, const TinyShape& s, const std::vector<TensorSpec>& ts,
                             const nlohmann::json& config) {
  fs::create_directories(dir);
  write_text(dir / "config.json", config.dump(2));
  if (s.shards <= 1) {
    write_safetensors(dir / "model.safetensors", ts);
    return;
  }
  nlohmann::json index = {{"metadata", nlohmann::json::object()}, {"weight_map", nlohmann::json::object()}};
  const size_t per = (ts.size() + s.shards - 1) / s.shards;
  for (int k = 0; k < s.shards; ++k) {
    const std::string name = "model-0000" + std::to_string(k + 1) + "-of-0000" + std::to_string(s.shards) +
                             ".safetensors";
    std::vector<TensorSpec> part;
    for (size_t i = k * per; i < std::min(ts.size(), (k + 1) * per); ++i) {
      part.push_back(ts[i]);
      index["weight_map"][ts[i].name] = name;
    }
    write_safetensors(dir / name, part);
  }
  write_text(dir / "model.safetensors.index.json", index.dump(2));
}

inline void write_checkpoint(const fs::path& dir, const TinyShape& s) {
  write_checkpoint(dir, s, qwen3_tensors(s), config_json(s));
}

// A fresh, empty folder under the system temp dir, unique per test.
inline fs::path temp_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("qg_test_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

}  // namespace qg::testutil
