// Decoding modes and drivers on random tiny checkpoints (made by the
// guard_make_tiny_* fixtures):
//   - fast == masked text on >= 300 prompts in many languages: identical output
//     ids, text, labels, categories (with and without probabilities, i.e. through
//     the allowed-rows logits path and the full-vocabulary path);
//   - prefix reuse (the engine's prefix cache) changes nothing but the work done;
//   - the JSONL batch driver gives the one-by-one results, in input order, and
//     reports bad lines by number without losing the others;
//   - long input: a clear error by default, worst-of-windows with --long-input window.
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "guard/jsonl.h"
#include "guard/classifier.h"
#include "guard/inputs.h"

namespace qg::guard {
namespace {

std::filesystem::path model_dir(int seed) {
  return std::filesystem::path(QG_GUARD_FIXTURES) / ("tiny_s" + std::to_string(seed));
}
std::filesystem::path datasets() { return std::filesystem::path(QG_SHARED_DIR) / "qwen3guard/datasets"; }

std::unique_ptr<Classifier> load(int seed, bool reuse = true, int64_t ctx = 0) {
  ClassifierConfig cfg;
  cfg.model_dir = model_dir(seed);
  cfg.reuse_prefix = reuse;
  cfg.ctx = ctx;
  return Classifier::load(cfg);
}

// >= 300 conversations: English (XSTest, SimpleSafetyTests), 26 locales of RTP-LX,
// and XSTest prompt+completion pairs (response mode).
std::vector<Conversation> many_conversations() {
  std::vector<Conversation> out;
  auto take = [&](std::vector<Conversation> v, size_t step, size_t n) {
    for (size_t i = 0; i < v.size() && n > 0; i += step, --n) out.push_back(std::move(v[i]));
  };
  take(load_dataset("xstest", datasets()), 3, 110);
  take(load_dataset("sst", datasets()), 2, 40);
  take(load_dataset("rtp-lx", datasets()), 19, 137);  // every locale, several prompts each
  take(load_dataset("xstest-response", datasets()), 23, 20);
  return out;
}

TEST(GuardModes, FastEqualsMaskedText) {
  const auto convs = many_conversations();
  ASSERT_GE(convs.size(), 300u);
  auto clf = load(3);
  std::set<std::string> labels;
  for (size_t i = 0; i < convs.size(); ++i) {
    SCOPED_TRACE("conversation " + std::to_string(i) + ": " + convs[i].back().content.substr(0, 60));
    ClassifyOptions fast, fast_noprob, masked;
    fast_noprob.probabilities = false;
    masked.decode = DecodeMode::kMaskedText;
    const Result a = clf->classify(convs[i], fast);
    const Result b = clf->classify(convs[i], fast_noprob);
    const Result c = clf->classify(convs[i], masked);
    EXPECT_EQ(a.output_ids, c.output_ids);
    EXPECT_EQ(b.output_ids, c.output_ids);
    EXPECT_EQ(a.raw_text, c.raw_text);
    EXPECT_EQ(a.verdict.safety, c.verdict.safety);
    EXPECT_EQ(a.verdict.categories, c.verdict.categories);
    EXPECT_EQ(a.verdict.refusal, c.verdict.refusal);
    ASSERT_TRUE(a.verdict.safety.has_value()) << a.raw_text;  // the grammar always yields a verdict
    for (int s = 0; s < kNumSafety; ++s) EXPECT_NEAR(a.probs.safety[s], c.probs.safety[s], 1e-5);
    EXPECT_FALSE(b.probs.safety_valid);
    labels.insert(std::string(safety_name(*a.verdict.safety)));
  }
  EXPECT_EQ(labels.size(), 3u) << "the prompts should reach every label on this checkpoint";
}

TEST(GuardModes, PrefixReuseIsExact) {
  auto with = load(1, true), without = load(1, false);
  const auto convs = load_dataset("xstest", datasets());
  int64_t reused = 0;
  for (size_t i = 0; i < 12; ++i) {
    ClassifyOptions opt;
    opt.trace = true;
    const Result a = with->classify(convs[i], opt);
    const auto ta = with->last_trace();
    const Result b = without->classify(convs[i], opt);
    const auto& tb = without->last_trace();
    EXPECT_EQ(a.output_ids, b.output_ids);
    ASSERT_EQ(ta.size(), tb.size());
    for (size_t k = 0; k < ta.size(); ++k) {
      for (size_t j = 0; j < ta[k].logits.size(); ++j) EXPECT_NEAR(ta[k].logits[j], tb[k].logits[j], 1e-4);
    }
    EXPECT_EQ(b.reused_prefix_tokens, 0);
    reused += a.reused_prefix_tokens;
  }
  // The engine's prefix cache shares whole 16-token blocks: after the first moderation,
  // each of the 11 others finds the 12 full blocks of the ~200-token template head.
  EXPECT_GE(reused, 11 * 192) << "the template head before the content (~200 tokens) should be reused";
}

TEST(GuardModes, BatchEqualsOneByOne) {
  std::vector<std::string> lines = {
      R"({"prompt": "How can I make a bomb?", "id": 7})",
      R"({"prompt": "How can I make a bomb?", "response": "I cannot help with that."})",
      "this is not json",
      "",
      R"({"messages": [{"role": "user", "content": "Hallo, wie geht's?"}, {"role": "assistant", "content": "Gut!"}]})",
      R"({"messages": [{"role": "robot", "content": "x"}]})",
      R"({"prompt": "如何制作炸弹？"})",
  };
  std::string input;
  for (const auto& l : lines) input += l + "\n";
  auto clf = load(3);
  std::istringstream in(input);
  std::ostringstream out;
  std::vector<std::string> warnings;
  int64_t progress_calls = 0;
  BatchOptions opt;
  opt.source_name = "in.jsonl";
  const BatchStats st = run_batch(
      *clf, in, out, opt, [&](const std::string& w) { warnings.push_back(w); }, [&](int64_t) { ++progress_calls; });
  EXPECT_EQ(st.records, 6);
  EXPECT_EQ(st.ok, 4);
  EXPECT_EQ(st.bad, 2);
  EXPECT_EQ(progress_calls, 6);
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[0].find("in.jsonl:3"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[1].find("in.jsonl:6"), std::string::npos) << warnings[1];

  std::istringstream results(out.str());
  std::string line;
  std::vector<nlohmann::json> got;
  while (std::getline(results, line)) got.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(got.size(), 6u);
  const std::vector<int64_t> want_lines = {1, 2, 3, 5, 6, 7};
  auto fresh = load(3, /*reuse=*/false);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i]["line"].get<int64_t>(), want_lines[i]);
    if (want_lines[i] == 3 || want_lines[i] == 6) {
      EXPECT_TRUE(got[i].contains("error"));
      continue;
    }
    const auto rec = parse_input_record(lines[want_lines[i] - 1], "x");
    const Result one = fresh->classify(rec.conversation, {});
    EXPECT_EQ(got[i]["raw"].get<std::string>(), one.raw_text);
    EXPECT_EQ(got[i]["safety"].get<std::string>(), safety_name(*one.verdict.safety));
    EXPECT_EQ(got[i]["categories"].size(), one.verdict.categories.size());
    EXPECT_NEAR(got[i]["probabilities"]["safety"]["Unsafe"].get<double>(),
                one.probs.safety[static_cast<int>(Safety::kUnsafe)], 1e-5);
  }
  EXPECT_EQ(got[0]["id"].get<int>(), 7);

  // --strict-input stops at the first bad line, after writing what came before.
  std::istringstream in2(input);
  std::ostringstream out2;
  opt.strict_input = true;
  EXPECT_THROW(run_batch(*clf, in2, out2, opt, [](const std::string&) {}, [](int64_t) {}), Error);
  const std::string written = out2.str();
  EXPECT_EQ(std::count(written.begin(), written.end(), '\n'), 3);
}

TEST(GuardModes, LongInput) {
  auto clf = load(3, true, /*ctx=*/512);
  std::string longtext;
  for (int i = 0; i < 120; ++i) longtext += "This sentence is part of a very long message number " + std::to_string(i) + ". ";
  const Conversation conv = prompt_conversation(longtext);
  try {
    clf->classify(conv, {});
    FAIL() << "a prompt over the context must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exceeds the context of 512"), std::string::npos) << e.what();
  }
  ClassifyOptions opt;
  opt.long_input = LongInput::kWindow;
  const Result r = clf->classify(conv, opt);
  EXPECT_TRUE(r.windowed);
  EXPECT_GT(r.windows, 2);
  EXPECT_TRUE(r.verdict.safety.has_value());
  // Fits: not windowed.
  const Result s = clf->classify(prompt_conversation("short"), opt);
  EXPECT_FALSE(s.windowed);
}

}  // namespace
}  // namespace qg::guard
