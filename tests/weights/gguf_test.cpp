// The GGUF reader on files built in the test (testutil/gguf_builder.h): every metadata
// type, arrays and nesting, tensor views and shapes; then corrupt files — truncated, bad
// magic, wrong version, bad offsets, unknown types, inconsistent shapes, hostile counts and
// lengths, deep nesting, duplicates, overlaps — each refused with an error naming the key
// or tensor. Also the qwen3 metadata -> config mapping and the tensor name table.
#include <gtest/gtest.h>

#include <cstring>

#include "base/dtype.h"
#include "testutil/expect_error.h"
#include "testutil/gguf_builder.h"
#include "weights/gguf.h"
#include "weights/gguf_qwen3.h"

namespace qg::weights {
namespace {

using testutil::expect_error;
using testutil::GgufBuilder;

GgufHeader parse(const std::vector<uint8_t>& f) { return parse_gguf(f.data(), f.size(), "t.gguf"); }

std::vector<uint8_t> f32_bytes(size_t n) {
  std::vector<uint8_t> b(n * 4);
  for (size_t i = 0; i < n; ++i) {
    const float v = static_cast<float>(i);
    std::memcpy(&b[4 * i], &v, 4);
  }
  return b;
}

GgufBuilder basic() {
  GgufBuilder g;
  g.kv_str("general.architecture", "qwen3");
  g.tensor("a", {8, 2}, 0, f32_bytes(16));
  g.tensor("q", {64, 3}, 8, std::vector<uint8_t>(2 * 34 * 3, 0));
  return g;
}

TEST(Gguf, ParsesEveryValueType) {
  GgufBuilder g;
  g.key("u8", 0); GgufBuilder::put<uint8_t>(g.kv, 200);
  g.key("i8", 1); GgufBuilder::put<int8_t>(g.kv, -5);
  g.key("u16", 2); GgufBuilder::put<uint16_t>(g.kv, 60000);
  g.key("i16", 3); GgufBuilder::put<int16_t>(g.kv, -300);
  g.kv_u32("u32", 4000000000u);
  g.key("i32", 5); GgufBuilder::put<int32_t>(g.kv, -70000);
  g.kv_f32("f32", 0.5f);
  g.key("bool", 7); GgufBuilder::put<uint8_t>(g.kv, 1);
  g.kv_str("str", "h\xc3\xa9llo");
  g.key("u64", 10); GgufBuilder::put<uint64_t>(g.kv, 1ull << 40);
  g.key("i64", 11); GgufBuilder::put<int64_t>(g.kv, -(1ll << 40));
  g.key("f64", 12); GgufBuilder::put<double>(g.kv, 1e-6);
  g.kv_strs("strs", {"a", "", "b c"});
  g.kv_i32s("ints", {1, -2, 3});
  g.key("nested", 9);  // array of 2 arrays of u8
  GgufBuilder::put<uint32_t>(g.kv, 9);
  GgufBuilder::put<uint64_t>(g.kv, 2);
  for (int k = 0; k < 2; ++k) {
    GgufBuilder::put<uint32_t>(g.kv, 0);
    GgufBuilder::put<uint64_t>(g.kv, 2);
    GgufBuilder::put<uint8_t>(g.kv, static_cast<uint8_t>(k));
    GgufBuilder::put<uint8_t>(g.kv, 9);
  }
  const GgufHeader h = parse(g.build());
  EXPECT_EQ(h.get_int("u8", "t"), 200);
  EXPECT_EQ(h.get_int("i8", "t"), -5);
  EXPECT_EQ(h.get_int("u16", "t"), 60000);
  EXPECT_EQ(h.get_int("i16", "t"), -300);
  EXPECT_EQ(h.get_int("u32", "t"), 4000000000ll);
  EXPECT_EQ(h.get_int("i32", "t"), -70000);
  EXPECT_EQ(h.get_float("f32", "t"), 0.5);
  EXPECT_EQ(h.get_int("bool", "t"), 1);
  EXPECT_EQ(h.get_string("str", "t"), "h\xc3\xa9llo");
  EXPECT_EQ(h.get_int("u64", "t"), 1ll << 40);
  EXPECT_EQ(h.get_int("i64", "t"), -(1ll << 40));
  EXPECT_EQ(h.get_float("f64", "t"), 1e-6);
  EXPECT_EQ(h.find("strs")->strs, (std::vector<std::string>{"a", "", "b c"}));
  EXPECT_EQ(h.find("ints")->ints, (std::vector<int64_t>{1, -2, 3}));
  ASSERT_EQ(h.find("nested")->arrs.size(), 2u);
  EXPECT_EQ(h.find("nested")->arrs[1].ints, (std::vector<int64_t>{1, 9}));
  EXPECT_EQ(h.key_order.size(), 15u);
  expect_error([&] { h.get_string("u8", "t.gguf"); }, {"t.gguf", "u8", "expected a string", "u8"});
  expect_error([&] { h.get_int("missing", "t.gguf"); }, {"t.gguf", "missing", "is missing"});
}

TEST(Gguf, TensorViews) {
  const auto bytes = basic().build();
  const GgufHeader h = parse(bytes);
  ASSERT_EQ(h.tensors.size(), 2u);
  EXPECT_EQ(h.tensors[0].ne, (std::vector<int64_t>{8, 2}));
  EXPECT_EQ(h.tensors[1].ggml_type, 8u);
  EXPECT_EQ(h.data_start % 32, 0u);
  EXPECT_EQ(h.tensors[1].offset % 32, 0u);
}

TEST(Gguf, RefusesCorruptFiles) {
  const auto good = basic().build();
  auto with = [&](auto mutate) {
    auto f = good;
    mutate(f);
    return f;
  };
  expect_error([&] { parse(with([](auto& f) { f[0] = 'X'; })); }, {"t.gguf", "bad magic"});
  expect_error([&] { parse(with([](auto& f) { f[4] = 2; })); }, {"t.gguf", "version 2"});
  for (size_t cut : {size_t{3}, size_t{10}, size_t{30}, good.size() / 2, good.size() - 1}) {
    expect_error([&] { parse(std::vector<uint8_t>(good.begin(), good.begin() + static_cast<long>(cut))); },
                 {"t.gguf"});
  }
  // truncated inside the data section: names the tensor
  expect_error([&] { parse(std::vector<uint8_t>(good.begin(), good.end() - 10)); },
               {"t.gguf", "tensor q", "outside the data section"});
  // hostile counts and lengths: refused before allocating
  expect_error([&] { parse(with([](auto& f) { const uint64_t n = 1ull << 60; std::memcpy(&f[16], &n, 8); })); },
               {"metadata count"});
  expect_error([&] { parse(with([](auto& f) { const uint64_t n = 1ull << 60; std::memcpy(&f[8], &n, 8); })); },
               {"tensor count"});
  expect_error([&] { parse(with([](auto& f) { const uint64_t n = 1ull << 62; std::memcpy(&f[24], &n, 8); })); },
               {"string of"});
}

TEST(Gguf, RefusesBadValuesAndTensors) {
  {
    GgufBuilder g;
    g.key("x", 13);
    expect_error([&] { parse(g.build()); }, {"metadata key x", "unknown value type 13"});
  }
  {
    GgufBuilder g;
    g.key("arr", 9);
    GgufBuilder::put<uint32_t>(g.kv, 6);
    GgufBuilder::put<uint64_t>(g.kv, 1ull << 40);  // 2^40 floats in a tiny file
    expect_error([&] { parse(g.build()); }, {"metadata key arr", "cannot fit"});
  }
  {
    GgufBuilder g;  // arrays nested 6 deep
    g.key("deep", 9);
    for (int i = 0; i < 6; ++i) {
      GgufBuilder::put<uint32_t>(g.kv, 9);
      GgufBuilder::put<uint64_t>(g.kv, 1);
    }
    GgufBuilder::put<uint32_t>(g.kv, 0);
    GgufBuilder::put<uint64_t>(g.kv, 0);
    expect_error([&] { parse(g.build()); }, {"metadata key deep", "nested deeper"});
  }
  {
    GgufBuilder g;
    g.kv_u32("k", 1);
    g.kv_u32("k", 2);
    expect_error([&] { parse(g.build()); }, {"metadata key k", "duplicate"});
  }
  {
    GgufBuilder g;
    g.key("b", 7);
    GgufBuilder::put<uint8_t>(g.kv, 2);
    expect_error([&] { parse(g.build()); }, {"metadata key b", "bool"});
  }
  {
    GgufBuilder g;
    g.kv_u32("general.alignment", 24);
    expect_error([&] { parse(g.build()); }, {"general.alignment", "power of two"});
  }
  {
    GgufBuilder g;
    g.tensor("w", {8, 2}, 99, f32_bytes(16));
    expect_error([&] { parse(g.build()); }, {"tensor w", "unknown ggml type 99"});
  }
  {
    GgufBuilder g;
    g.tensor("w", {32}, 16, std::vector<uint8_t>(64, 0));  // IQ2_XXS
    expect_error([&] { parse(g.build()); }, {"tensor w", "IQ2_XXS", "not supported"});
  }
  {
    GgufBuilder g;
    g.tensor("w", {48, 2}, 8, std::vector<uint8_t>(204, 0));  // Q8_0 row of 48: not whole blocks
    expect_error([&] { parse(g.build()); }, {"tensor w", "multiple of 32", "48"});
  }
  {
    GgufBuilder g;
    g.tensor("w", {8, 0}, 0, {});
    expect_error([&] { parse(g.build()); }, {"tensor w", "dimension 1 = 0"});
  }
  {
    GgufBuilder g;
    g.tensor("w", {1, 1, 1, 1, 1}, 0, f32_bytes(1));
    expect_error([&] { parse(g.build()); }, {"tensor w", "5 dimensions"});
  }
  {
    GgufBuilder g;
    g.tensor("w", {8}, 0, f32_bytes(8));
    g.tensor("w", {8}, 0, f32_bytes(8));
    expect_error([&] { parse(g.build()); }, {"tensor w", "duplicate tensor name"});
  }
  {
    GgufBuilder g;  // offset not aligned
    g.tensor("w", {8}, 0, f32_bytes(8));
    std::vector<uint8_t> f = g.build();
    const uint64_t off = 4;
    // the offset is the last 8 bytes of the tensor info, just before the padding
    const size_t info_end = 24 + g.kv.size() + g.infos.size();
    std::memcpy(&f[info_end - 8], &off, 8);
    expect_error([&] { parse(f); }, {"tensor w", "not a multiple of the alignment"});
  }
  {
    GgufBuilder g;  // two tensors sharing bytes
    g.tensor("a", {8}, 0, f32_bytes(16));
    g.tensor("b", {8}, 0, f32_bytes(8));
    std::vector<uint8_t> f = g.build();
    const uint64_t off = 0;
    const size_t info_end = 24 + g.kv.size() + g.infos.size();
    std::memcpy(&f[info_end - 8], &off, 8);
    expect_error([&] { parse(f); }, {"overlaps"});
  }
}

GgufBuilder qwen3_file(bool with_output, uint32_t kv_heads = 2) {
  GgufBuilder g;
  g.kv_str("general.architecture", "qwen3");
  g.kv_u32("qwen3.embedding_length", 64);
  g.kv_u32("qwen3.feed_forward_length", 96);
  g.kv_u32("qwen3.block_count", 1);
  g.kv_u32("qwen3.attention.head_count", 4);
  g.kv_u32("qwen3.attention.head_count_kv", kv_heads);
  g.kv_u32("qwen3.attention.key_length", 16);
  g.kv_u32("qwen3.context_length", 4096);
  g.kv_f32("qwen3.rope.freq_base", 1e6f);
  g.kv_f32("qwen3.attention.layer_norm_rms_epsilon", 1e-6f);
  g.kv_u32("tokenizer.ggml.eos_token_id", 9);
  g.tensor("token_embd.weight", {64, 10}, 0, f32_bytes(640));
  if (with_output) g.tensor("output.weight", {64, 10}, 0, f32_bytes(640));
  return g;
}

TEST(GgufQwen3, ConfigFromMetadata) {
  const GgufHeader h = parse(qwen3_file(false).build());
  const Qwen3Config c = qwen3_config_from_gguf(h, "t.gguf");
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 96);
  EXPECT_EQ(c.num_hidden_layers, 1);
  EXPECT_EQ(c.num_attention_heads, 4);
  EXPECT_EQ(c.num_key_value_heads, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.vocab_size, 10);
  EXPECT_EQ(c.max_position_embeddings, 4096);
  EXPECT_EQ(c.rope_theta, 1e6);
  EXPECT_EQ(static_cast<float>(c.rms_norm_eps), 1e-6f);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.eos_token_ids, std::vector<int32_t>{9});
  EXPECT_FALSE(qwen3_config_from_gguf(parse(qwen3_file(true).build()), "t").tie_word_embeddings);

  GgufBuilder g = qwen3_file(false);
  g.kv_str("qwen3.rope.scaling.type", "yarn");
  expect_error([&] { qwen3_config_from_gguf(parse(g.build()), "t.gguf"); }, {"qwen3.rope.scaling.type", "not supported"});
  GgufBuilder l;
  l.kv_str("general.architecture", "llama");
  expect_error([&] { qwen3_config_from_gguf(parse(l.build()), "t.gguf"); }, {"general.architecture", "llama"});
  GgufBuilder m = qwen3_file(false, 3);
  expect_error([&] { qwen3_config_from_gguf(parse(m.build()), "t.gguf"); }, {"head_count", "multiple"});
}

TEST(GgufQwen3, NameTable) {
  EXPECT_EQ(gguf_to_hf_name("blk.12.attn_q.weight", "f"), "model.layers.12.self_attn.q_proj.weight");
  EXPECT_EQ(gguf_to_hf_name("blk.0.ffn_norm.weight", "f"), "model.layers.0.post_attention_layernorm.weight");
  EXPECT_EQ(gguf_to_hf_name("blk.3.attn_k_norm.weight", "f"), "model.layers.3.self_attn.k_norm.weight");
  EXPECT_EQ(gguf_to_hf_name("token_embd.weight", "f"), "model.embed_tokens.weight");
  EXPECT_EQ(gguf_to_hf_name("output.weight", "f"), "lm_head.weight");
  EXPECT_EQ(gguf_to_hf_name("rope_freqs.weight", "f"), "rope_freqs.weight");
  expect_error([] { gguf_to_hf_name("blk.1.attn_q.bias", "m.gguf"); }, {"m.gguf", "blk.1.attn_q.bias"});
  for (const char* hf : {"model.layers.7.mlp.down_proj.weight", "model.norm.weight", "model.layers.0.input_layernorm.weight"}) {
    EXPECT_EQ(gguf_to_hf_name(*hf_to_gguf_name(hf), "f"), hf);
  }
}

}  // namespace
}  // namespace qg::weights
