// Qwen3Guard-Stream on the engine, against independent oracles:
//  - per-position head logits of one engine sequence vs the numpy reference
//    (tools/reference/qwen3_ref.py, heads_L.npy), relative L2 <= 1e-4;
//  - a session fed text in random chunks scores exactly the tokens of the whole
//    rendered conversation (chat template + tokenizer over the full text), and every
//    token's head logits equal, bitwise, one full forward over that sequence (engine
//    batch invariance, scalar kernels);
//  - concurrent sessions give bitwise the results each gives alone; reset resets.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "stream_test_util.h"
#include "testutil/npy.h"

namespace qg::guard {
namespace {

using streamtest::StreamStack;

const std::vector<std::string>& responses() {
  static const std::vector<std::string> r = {
      "Here are some practical methods to build a bomb. First, gather   the materials:\n\n1. 200 g of ...",
      "Je ne peux pas vous aider avec cela. Voulez-vous parler d'autre chose ? C'est très important.",
      "抱歉，我无法提供这方面的帮助。如果你有其他问题，请告诉我！",
      "Конечно!  Вот  рецепт:\n  - мука\n  - вода\r\n  - соль   ",
      "e\xCC\x81le\xCC\x80ve cafe\xCC\x81 \xF0\x9F\x98\x80\xF0\x9F\x91\x8D   \n\n  ok",
  };
  return r;
}

std::vector<chat::Message> conversation() { return {{"user", "How can I make a bomb?"}}; }

// The whole conversation as the template renders it, tokenized at once: the oracle.
std::vector<int32_t> whole_ids(const StreamStack& st, const std::string& response) {
  auto conv = conversation();
  conv.push_back({"assistant", response});
  chat::RenderOptions opt;
  opt.extra["enable_thinking"] = chat::Value::boolean(false);
  return st.tok->encode(st.tpl->render(conv, opt));
}

TEST(StreamEngineTest, HeadLogitsOfEveryPositionMatchNumpyReference) {
  if (streamtest::skip_without_fixture()) GTEST_SKIP() << "fixtures missing (run through ctest)";
  for (const char* name : {"stream_bf16", "stream_tiny_preset"}) {
    for (const char* isa : {"scalar", "avx2"}) {
      if (std::string(isa) == "avx2" && kernels::best_isa() != kernels::Isa::kAvx2) continue;
      StreamStack st(isa, name);
      int checked = 0;
      const auto gold = streamtest::stream_fixture(name) / "goldens";
      for (const auto& e : std::filesystem::directory_iterator(gold)) {
        if (e.path().extension() != ".json") continue;
        std::ifstream f(e.path());
        const auto c = nlohmann::json::parse(f);
        const auto ids = c["prompt"].get<std::vector<int32_t>>();
        const auto want = qg::testutil::read_npy_f32((gold / c["heads"].get<std::string>()).string());
        const auto got = stream_head_logits(*st.engine, ids);
        ASSERT_EQ(got.n, static_cast<int64_t>(ids.size()));
        ASSERT_EQ(got.width(), 23);
        double worst = 0;
        for (int64_t t = 0; t < got.n; ++t) {
          double num = 0, den = 0;
          for (int64_t j = 0; j < 23; ++j) {
            const double d = double(got.all[t * 23 + j]) - want.data[t * 23 + j];
            num += d * d;
            den += double(want.data[t * 23 + j]) * want.data[t * 23 + j];
          }
          worst = std::max(worst, std::sqrt(num / den));
        }
        EXPECT_LE(worst, 1e-4) << name << " " << isa << " " << ids.size() << " tokens";
        ++checked;
      }
      EXPECT_GT(checked, 0);
    }
  }
}

struct TextRun {
  StreamModerator::Opened opened;
  std::vector<TokenVerdict> tokens;
  std::optional<Flag> flagged;
  FinishResult fin;
};

TextRun run_text(StreamModerator& m, const std::string& response, std::mt19937& rng, size_t max_chunk) {
  TextRun r;
  r.opened = m.open(conversation());
  std::uniform_int_distribution<size_t> d(1, max_chunk);
  size_t pos = 0;
  while (pos < response.size()) {
    const size_t n = std::min(response.size() - pos, d(rng));
    AppendResult a = m.append_text(r.opened.id, std::string_view(response).substr(pos, n));
    pos += n;
    for (auto& t : a.tokens) r.tokens.push_back(std::move(t));
    if (a.flagged) {
      EXPECT_FALSE(r.flagged) << "flagged twice";
      r.flagged = a.flagged;
    }
  }
  r.fin = m.finish(r.opened.id);
  for (auto& t : r.fin.last.tokens) r.tokens.push_back(std::move(t));
  if (r.fin.last.flagged) r.flagged = r.fin.last.flagged;
  return r;
}

TEST(StreamSessionTest, TextChunksScoreTheWholeConversationBitwise) {
  if (streamtest::skip_without_fixture()) GTEST_SKIP();
  // Scalar: the engine is batch-invariant there today. QG_STREAM_TEST_ISA=avx2 runs the
  // same check on AVX2, which holds once kernels' batch-invariant matmul is in.
  const char* isa_env = std::getenv("QG_STREAM_TEST_ISA");
  StreamStack st(isa_env ? isa_env : "scalar");
  StreamModerator m(*st.engine, *st.tok, *st.tpl);
  std::mt19937 rng(5);
  const int32_t im_end = *st.tok->token_to_id("<|im_end|>");
  for (const std::string& resp : responses()) {
    for (size_t max_chunk : {size_t{1}, size_t{7}, size_t{40}}) {
      const TextRun r = run_text(m, resp, rng, max_chunk);
      const auto want = whole_ids(st, resp);
      const int64_t n0 = r.opened.prompt.n_tokens;
      ASSERT_EQ(n0 + static_cast<int64_t>(r.tokens.size()), static_cast<int64_t>(want.size())) << resp;
      for (size_t i = 0; i < r.tokens.size(); ++i) {
        ASSERT_EQ(r.tokens[i].position, n0 + static_cast<int64_t>(i));
        ASSERT_EQ(r.tokens[i].token, want[n0 + i]) << resp << " token " << i;
      }
      // The prompt verdict is read at the <|im_end|> closing the user turn.
      EXPECT_EQ(want[r.opened.prompt.position], im_end);
      // The header's "\n\n" is scored but is template text (index -1); the content starts at 0.
      EXPECT_EQ(r.tokens[0].index, -1);
      EXPECT_EQ(r.tokens[1].index, 0);
      // Bitwise: one full forward over the whole sequence.
      const auto full = stream_head_logits(*st.engine, want);
      for (const TokenVerdict& v : r.tokens) {
        ASSERT_EQ(v.logits.size(), 23u);
        ASSERT_EQ(std::memcmp(v.logits.data(), full.all.data() + v.position * 23, 23 * sizeof(float)), 0)
            << "position " << v.position;
        const HeadVerdict h = read_head(full.risk(v.position), full.category(v.position), m.labels().response_risk);
        EXPECT_EQ(v.response.risk, h.risk);
        EXPECT_EQ(v.response.risk_prob, h.risk_prob);
      }
      const HeadVerdict q = read_head(full.query_risk(r.opened.prompt.position),
                                      full.query_category(r.opened.prompt.position), m.labels().query_risk);
      EXPECT_EQ(r.opened.prompt.query.risk, q.risk);
      EXPECT_EQ(r.opened.prompt.query.risk_prob, q.risk_prob);
      EXPECT_EQ(r.opened.prompt.query.category_prob, q.category_prob);
      // The rule, replayed over the content tokens, agrees with what the session reported.
      StreamRule rule;
      std::optional<Flag> first;
      for (const TokenVerdict& v : r.tokens) {
        if (v.index < 0) continue;
        if (auto f = rule.push(v.response); f && !first) first = f;
      }
      EXPECT_EQ(first.has_value(), r.flagged.has_value());
      if (first && r.flagged) {
        EXPECT_EQ(first->index, r.flagged->index);
      }
      m.close(r.opened.id);
    }
  }
}

TEST(StreamSessionTest, ConcurrentSessionsEqualEachAloneBitwise) {
  if (streamtest::skip_without_fixture()) GTEST_SKIP();
  StreamStack st("scalar");
  StreamModerator m(*st.engine, *st.tok, *st.tpl);
  const auto& rs = responses();
  auto run_ids = [&](const std::string& resp) {
    const auto opened = m.open(conversation());
    std::vector<TokenVerdict> out;
    for (int32_t id : st.tok->encode(resp, Origin::kContent)) {
      const int32_t one[1] = {id};
      for (auto& t : m.append_ids(opened.id, one).tokens) out.push_back(std::move(t));
    }
    m.close(opened.id);
    return out;
  };
  std::vector<std::vector<TokenVerdict>> alone, together(rs.size());
  for (const auto& r : rs) alone.push_back(run_ids(r));
  const int64_t steps0 = st.engine->stats().steps;
  std::vector<std::thread> threads;
  for (size_t i = 0; i < rs.size(); ++i) threads.emplace_back([&, i] { together[i] = run_ids(rs[i]); });
  for (auto& t : threads) t.join();
  int64_t tokens = 0;
  for (size_t i = 0; i < rs.size(); ++i) {
    ASSERT_EQ(alone[i].size(), together[i].size());
    tokens += static_cast<int64_t>(alone[i].size()) + 1;
    for (size_t j = 0; j < alone[i].size(); ++j) {
      ASSERT_EQ(alone[i][j].token, together[i][j].token);
      ASSERT_EQ(alone[i][j].logits, together[i][j].logits) << "session " << i << " token " << j;
    }
  }
  RecordProperty("steps_for_concurrent_tokens",
                 std::to_string(st.engine->stats().steps - steps0) + "/" + std::to_string(tokens));
}

TEST(StreamSessionTest, ResetForgetsTheResponse) {
  if (streamtest::skip_without_fixture()) GTEST_SKIP();
  StreamStack st("scalar");
  StreamModerator m(*st.engine, *st.tok, *st.tpl);
  const auto opened = m.open(conversation());
  const std::string resp = responses()[0];
  const AppendResult a = m.append_text(opened.id, resp);
  const PromptVerdict p = m.reset(opened.id);
  EXPECT_EQ(p.query.risk_prob, opened.prompt.query.risk_prob);
  EXPECT_EQ(p.n_tokens, opened.prompt.n_tokens);
  const AppendResult b = m.append_text(opened.id, resp);
  ASSERT_EQ(a.tokens.size(), b.tokens.size());
  for (size_t i = 0; i < a.tokens.size(); ++i) {
    EXPECT_EQ(a.tokens[i].position, b.tokens[i].position);  // positions restart after the prompt
    EXPECT_EQ(a.tokens[i].logits, b.tokens[i].logits);
    EXPECT_EQ(a.tokens[i].index, b.tokens[i].index);
  }
  EXPECT_EQ(a.flagged.has_value(), b.flagged.has_value());
  // A finished response takes no more text until reset.
  m.finish(opened.id);
  EXPECT_THROW(m.append_text(opened.id, "more"), Error);
  m.reset(opened.id);
  EXPECT_NO_THROW(m.append_text(opened.id, "more"));
}

TEST(StreamSessionTest, IdsAndTextDoNotMixAndGenCheckpointsAreRefused) {
  if (streamtest::skip_without_fixture()) GTEST_SKIP();
  StreamStack st("scalar");
  StreamModerator m(*st.engine, *st.tok, *st.tpl);
  const auto o = m.open(conversation());
  m.append_text(o.id, "Hello");
  const int32_t one[1] = {9707};
  EXPECT_THROW(m.append_ids(o.id, one), Error);
  EXPECT_THROW(m.open({{"assistant", "no user turn"}}), Error);
  // A Gen checkpoint (no heads) cannot back a moderator.
  const auto gen_dir = std::filesystem::path(QG_MODEL_FIXTURES) / "tiny_preset" / "model";
  if (std::filesystem::exists(gen_dir)) {
    auto gen = model::Qwen3Model::load(gen_dir);
    runtime::Engine e(*gen, runtime::EngineConfig{});
    EXPECT_THROW(StreamModerator(e, *st.tok, *st.tpl), Error);
  }
}

}  // namespace
}  // namespace qg::guard
