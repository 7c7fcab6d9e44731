// GGUF end to end, against files and values numpy wrote (tests/gguf/make_fixtures.py,
// tools/gguf_io.py), never against the engine's own output:
//   - per block type, the engine's dequantization of a tensor equals numpy's bit for bit;
//   - GGUF F32/F16/BF16 of a bf16 checkpoint give exactly the safetensors logits;
//   - every quantized type's logits are close to those of the f32 checkpoint of its
//     numpy-dequantized weights (the difference is the per-block quantization of the
//     activations; tolerances per type below), on both ISAs; Q8_0 also equals
//     `--dtype q8_0` of the bf16 checkpoint bit for bit;
//   - the tokenizer built from GGUF metadata gives the HF ids of the tokenizer golden corpus
//     and the same ids as tokenizer.json; the chat template renders identically.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "guard/checkpoint.h"
#include "kernels/kernels.h"
#include "base/error.h"
#include "model/qwen3.h"
#include "model/qwen3_weights.h"
#include "testutil/npy.h"
#include "weights/gguf.h"

namespace qg {
namespace {

namespace fs = std::filesystem;

fs::path fixtures() {
  const char* p = std::getenv("QG_GGUF_FIXTURES");
  return p ? fs::path(p) : fs::path();
}

const char* kTypes[] = {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1",
                        "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "q4_k_m"};

class GgufGolden : public ::testing::Test {
 protected:
  void SetUp() override {
    if (fixtures().empty()) GTEST_SKIP() << "QG_GGUF_FIXTURES not set (run through ctest)";
  }
};

TEST_F(GgufGolden, DequantizationBitExactPerType) {
  for (const char* t : kTypes) {
    if (std::string(t) == "q4_k_m") continue;
    const weights::GgufFile f(fixtures() / cat("blocks-", t, ".gguf"));
    ASSERT_EQ(f.tensors().size(), 1u);
    const weights::TensorView& v = f.tensors()[0];
    ASSERT_EQ(v.shape, (std::vector<int64_t>{3, 512})) << t;
    const auto want = testutil::read_npy_f32((fixtures() / cat("blocks-", t, ".npy")).string());
    std::vector<float> got(3 * 512);
    const kernels::MatRef m{v.data, v.dtype, 3, 512};
    for (int64_t r = 0; r < 3; ++r) kernels::get_row(m, r, got.data() + r * 512);
    ASSERT_EQ(want.data.size(), got.size());
    for (size_t i = 0; i < got.size(); ++i) {
      uint32_t a, b;
      std::memcpy(&a, &got[i], 4);
      std::memcpy(&b, &want.data[i], 4);
      ASSERT_EQ(a, b) << t << " element " << i << ": engine " << got[i] << ", numpy " << want.data[i];
    }
  }
}

std::vector<float> all_logits(const model::Qwen3Model& m, const kernels::Context& ctx,
                              const std::vector<int32_t>& ids) {
  model::Qwen3Model& mm = const_cast<model::Qwen3Model&>(m);
  model::KvCache cache = mm.make_cache(64);
  std::vector<float> out(ids.size() * static_cast<size_t>(m.config().vocab_size));
  mm.forward(ctx, ids, cache, model::Logits::kAll, out);
  return out;
}

double rel_l2(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double{a[i]} - b[i]) * (double{a[i]} - b[i]);
    den += double{b[i]} * b[i];
  }
  return std::sqrt(num / den);
}

const std::vector<int32_t> kIds = {1, 17, 400, 3, 999, 512, 77, 1023, 5, 42, 600};

TEST_F(GgufGolden, FloatGgufEqualsSafetensorsBitwise) {
  const kernels::Context ctx(2);
  const auto st = model::Qwen3Model::load(fixtures() / "q");
  const auto want = all_logits(*st, ctx, kIds);
  for (const char* t : {"f32", "bf16"}) {
    const auto g = model::Qwen3Model::load(fixtures() / "q" / cat("model-", t, ".gguf"));
    EXPECT_EQ(g->config().hidden_size, st->config().hidden_size);
    EXPECT_EQ(g->config().num_key_value_heads, st->config().num_key_value_heads);
    EXPECT_EQ(g->config().head_dim, st->config().head_dim);
    EXPECT_EQ(g->config().tie_word_embeddings, st->config().tie_word_embeddings);
    EXPECT_EQ(static_cast<float>(g->config().rms_norm_eps), static_cast<float>(st->config().rms_norm_eps));
    const auto got = all_logits(*g, ctx, kIds);
    ASSERT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * 4)) << t << ": logits differ";
  }
  // F16 holds bf16 values only approximately (different exponent range/mantissa): close.
  const auto f16 = model::Qwen3Model::load(fixtures() / "q" / "model-f16.gguf");
  EXPECT_LT(rel_l2(all_logits(*f16, ctx, kIds), want), 1e-2);
}

TEST_F(GgufGolden, QuantizedLogitsCloseToDequantizedF32) {
  // Relative L2 of all-position logits, quantized path vs f32 path on the same (dequantized)
  // weights: the gap is the activations' 8-bit per-block quantization alone, about the same
  // for every type (measured 0.015-0.018 on this 2-layer model, both ISAs). A decoding bug
  // (a wrong nibble order, scale or offset) gives errors of order 1.
  const std::map<std::string, double> tol = {{"q8_0", 0.03}, {"q4_0", 0.03}, {"q4_1", 0.03}, {"q5_0", 0.03},
                                             {"q5_1", 0.03}, {"q2_k", 0.03}, {"q3_k", 0.03}, {"q4_k", 0.03},
                                             {"q5_k", 0.03}, {"q6_k", 0.03}, {"q4_k_m", 0.03}};
  for (kernels::Isa isa : {kernels::Isa::kScalar, kernels::Isa::kAvx2}) {
    if (!kernels::isa_supported(isa)) continue;
    const kernels::Context ctx(2, isa);
    for (const auto& [t, bound] : tol) {
      const auto q = model::Qwen3Model::load(fixtures() / "q" / cat("model-", t, ".gguf"));
      const auto d = model::Qwen3Model::load(fixtures() / "q" / cat("dequant-", t));
      const double e = rel_l2(all_logits(*q, ctx, kIds), all_logits(*d, ctx, kIds));
      EXPECT_LT(e, bound) << t << " on " << kernels::isa_name(isa);
      std::printf("  %-7s %-6s rel L2 vs dequantized f32: %.5f\n", t.c_str(),
                  std::string(kernels::isa_name(isa)).c_str(), e);
    }
  }
}

TEST_F(GgufGolden, DtypeQ8_0EqualsGgufQ8_0) {
  const kernels::Context ctx(2);
  model::LoadOptions o;
  o.dtype = DType::kQ8_0;
  const auto a = model::Qwen3Model::load(fixtures() / "q", o);
  const auto b = model::Qwen3Model::load(fixtures() / "q" / "model-q8_0.gguf");
  EXPECT_EQ(a->weights().layers[0].q_proj.dtype, DType::kQ8_0);
  const auto la = all_logits(*a, ctx, kIds), lb = all_logits(*b, ctx, kIds);
  ASSERT_EQ(0, std::memcmp(la.data(), lb.data(), la.size() * 4));
  // --dtype bf16 of the GGUF F32 file: back to the bf16 checkpoint exactly.
  o.dtype = DType::kBF16;
  const auto c = model::Qwen3Model::load(fixtures() / "q" / "model-f32.gguf", o);
  const auto st = model::Qwen3Model::load(fixtures() / "q");
  const auto lc = all_logits(*c, ctx, kIds), ls = all_logits(*st, ctx, kIds);
  ASSERT_EQ(0, std::memcmp(lc.data(), ls.data(), lc.size() * 4));
}

TEST_F(GgufGolden, TokenizerFromMetadataMatchesTokenizerJson) {
  const fs::path gguf = fixtures() / "tok" / "model-f32.gguf";
  const auto g = guard::load_tokenizer(gguf);
  const auto j = guard::load_tokenizer(fixtures() / "tok");
  EXPECT_EQ(g->vocab_size(), j->vocab_size());
  EXPECT_EQ(g->eos_id(), j->eos_id());
  EXPECT_EQ(g->pad_id(), j->pad_id());
  std::ifstream corpus(fs::path(QG_SOURCE_DIR) / "tests/tokenizer/golden/corpus.jsonl");
  ASSERT_TRUE(corpus) << "tokenizer golden corpus missing";
  std::string line;
  int n = 0;
  while (std::getline(corpus, line)) {
    const auto c = nlohmann::json::parse(line);
    if (!c.contains("mode")) continue;  // entries of other tests (segments, decode)
    const Origin o = c["mode"] == "content" ? Origin::kContent : Origin::kTemplate;
    std::string text;
    if (c.contains("hex")) {  // raw bytes, possibly invalid UTF-8
      const std::string h = c["hex"].get<std::string>();
      for (size_t i = 0; i + 1 < h.size(); i += 2) text.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
    } else {
      text = c["text"].get<std::string>();
    }
    const auto ids = g->encode(text, o);
    ASSERT_EQ(ids, c["ids"].get<std::vector<int32_t>>()) << c["name"] << " (" << c["mode"] << ")";
    ASSERT_EQ(ids, j->encode(text, o)) << c["name"];
    ASSERT_EQ(g->decode(ids), j->decode(ids)) << c["name"];
    ++n;
  }
  EXPECT_GT(n, 900);
  // The model's stop ids: <|im_end|> and <|endoftext|>, as generation_config.json lists them.
  const auto m = model::Qwen3Model::load(gguf);
  std::vector<int32_t> stop = m->stop_token_ids();
  std::sort(stop.begin(), stop.end());
  EXPECT_EQ(stop, (std::vector<int32_t>{151643, 151645}));
}

TEST_F(GgufGolden, ChatTemplateFromMetadataRendersIdentically) {
  const auto g = guard::load_chat_template(fixtures() / "tok" / "model-f32.gguf");
  const auto d = guard::load_chat_template(fixtures() / "tok");
  const std::vector<chat::Message> msgs = {{"user", "How can I make a bomb?"},
                                           {"assistant", "I can't help with that."}};
  chat::RenderOptions opt;
  const Segments a = g->render(msgs, opt), b = d->render(msgs, opt);
  std::string sa, sb;
  for (const auto& s : a) sa += s.text;
  for (const auto& s : b) sb += s.text;
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa.find("How can I make a bomb?"), std::string::npos);
}

}  // namespace
}  // namespace qg
