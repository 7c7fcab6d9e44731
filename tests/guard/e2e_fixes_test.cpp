// Fail-closed behaviour of the moderation pipeline on random tiny checkpoints (made by
// the guard_make_tiny_* fixtures):
//   - a chat template that renders nothing is refused with a clear error;
//   - --thresholds always apply: category scores come from the allowed rows even
//     without the full-vocabulary softmax, and a result without them is flagged;
//   - each listed category carries the probability at the position where it was
//     chosen (checked against a softmax over the traced logits), and the per-category
//     score is never below it;
//   - non-finite logits (a NaN checkpoint) give an error, never a verdict;
//   - the JSONL batch driver survives any exception of one line, and --parallel
//     moderations come back in input order.
#include <cmath>
#include <cstring>
#include <mutex>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/file.h"
#include "guard/classifier.h"
#include "guard/inputs.h"
#include "guard/jsonl.h"
#include "guard/policy.h"

namespace qg::guard {
namespace {

namespace fs = std::filesystem;

fs::path model_dir(int seed) { return fs::path(QG_GUARD_FIXTURES) / ("tiny_s" + std::to_string(seed)); }
fs::path datasets() { return fs::path(QG_SHARED_DIR) / "qwen3guard/datasets"; }

std::unique_ptr<Classifier> load(const fs::path& dir, std::optional<fs::path> tmpl = std::nullopt) {
  ClassifierConfig cfg;
  cfg.model_dir = dir;
  cfg.chat_template = tmpl;
  return Classifier::load(cfg);
}

TEST(GuardFixes, EmptyRenderingIsRefused) {
  const fs::path tmpl = fs::path(::testing::TempDir()) / "qg_empty_template.jinja";
  {
    std::ofstream f(tmpl);
    f << "{%- if messages[-1]['content'] != 'nothing' -%}<|im_start|>user\n{{ messages[-1]['content'] }}"
         "<|im_end|>\n<|im_start|>assistant\n{%- endif -%}";
  }
  auto clf = load(model_dir(3), tmpl);
  // A first moderation leaves a cache to compare against (the old out-of-bounds read).
  EXPECT_NO_THROW(clf->classify(prompt_conversation("hello"), {}));
  try {
    clf->classify(prompt_conversation("nothing"), {});
    FAIL() << "an empty rendering must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rendered no tokens"), std::string::npos) << e.what();
  }
  // The classifier is still usable and gives the result of a fresh one.
  const Result again = clf->classify(prompt_conversation("hello"), {});
  const Result fresh = load(model_dir(3), tmpl)->classify(prompt_conversation("hello"), {});
  EXPECT_EQ(again.output_ids, fresh.output_ids);
}

TEST(GuardFixes, ThresholdsAlwaysApply) {
  auto clf = load(model_dir(3));
  const auto convs = load_dataset("xstest", datasets());
  Policy policy;
  policy.strictness = Strictness::kLoose;
  policy.thresholds = {{Category::kViolent, 0.0}};  // every evaluated score passes 0
  for (size_t i = 0; i < 6; ++i) {
    ClassifyOptions opt;
    opt.probabilities = false;  // no full-vocabulary softmax: renormalised scores still exist
    Result r = clf->classify(convs[i], opt);
    EXPECT_FALSE(r.probs.category_valid);
    ASSERT_TRUE(r.probs.category_renorm_valid);
    ASSERT_TRUE(r.probs.safety_renorm_valid);
    double sum = 0;
    for (double p : r.probs.safety_renorm) sum += p;
    EXPECT_NEAR(sum, 1.0, 1e-9);
    apply_policy(policy, r);
    EXPECT_TRUE(r.flagged);
    EXPECT_TRUE(std::any_of(r.flag_reasons.begin(), r.flag_reasons.end(),
                            [](const std::string& s) { return s.rfind("Violent p=", 0) == 0; }));
  }
  // Text mode on a random checkpoint leaves the format at once: no scores, so a
  // threshold that could never pass still flags (fail closed).
  ClassifyOptions text;
  text.decode = DecodeMode::kText;
  text.max_new_tokens = 4;
  policy.thresholds = {{Category::kViolent, 1.0}};
  int left = 0;
  for (size_t i = 0; i < 6; ++i) {
    Result r = clf->classify(convs[i], text);
    if (r.probs.category_renorm_valid) continue;
    ++left;
    apply_policy(policy, r);
    EXPECT_TRUE(r.flagged);
  }
  EXPECT_GT(left, 0) << "text mode should leave the grammar on a random checkpoint";
}

TEST(GuardFixes, CategoryChosenProbabilities) {
  auto clf = load(model_dir(1));  // seed 1 writes long category lists
  const auto convs = load_dataset("xstest", datasets());
  int lists = 0;
  for (size_t i = 0; i < 40; ++i) {
    for (bool probs : {true, false}) {
      ClassifyOptions opt;
      opt.trace = true;
      opt.probabilities = probs;
      const Result r = clf->classify(convs[i], opt);
      const auto& trace = clf->last_trace();
      const auto& cats = r.verdict.categories;
      lists += cats.size() >= 2;
      // The independent oracle: softmax over the traced allowed logits at each
      // category decision, at the chosen token.
      size_t k = 0;
      for (const auto& d : trace) {
        if (d.kind != DecisionKind::kCategoryFirst && d.kind != DecisionKind::kCategoryNext) continue;
        double mx = -INFINITY, s = 0, chosen_logit = 0;
        for (float l : d.logits) mx = std::max<double>(mx, l);
        for (size_t j = 0; j < d.logits.size(); ++j) {
          s += std::exp(d.logits[j] - mx);
          if (d.allowed[j] == d.chosen) chosen_logit = d.logits[j];
        }
        const double want = std::exp(chosen_logit - mx) / s;
        if (k < cats.size() && clf->grammar(r.mode).category_branch_token(static_cast<int>(cats[k])) == d.chosen) {
          const int c = static_cast<int>(cats[k]);
          EXPECT_NEAR(r.probs.category_chosen[c], want, 1e-9) << "category " << k;
          EXPECT_GE(r.probs.category_score[c], r.probs.category_chosen[c]);
          EXPECT_GT(r.probs.category_chosen[c], 0.0);
          ++k;
        }
      }
      EXPECT_EQ(k, cats.size()) << "every listed category has its decision";
      // A threshold at the chosen probability of the last listed category flags.
      if (!cats.empty()) {
        Result copy = r;
        Policy p;
        p.strictness = Strictness::kLoose;
        p.thresholds = {{cats.back(), r.probs.category_chosen[static_cast<int>(cats.back())]}};
        apply_policy(p, copy);
        EXPECT_TRUE(copy.flagged);
        const auto j = nlohmann::json::parse(result_to_json(copy, {}));
        EXPECT_EQ(j["probabilities"]["categories_chosen"].size(), cats.size());
        EXPECT_TRUE(j["probabilities"].contains("category_scores"));
        EXPECT_EQ(j["probabilities"].contains("categories"), probs);
      }
    }
  }
  EXPECT_GT(lists, 0) << "seed 1 should list several categories somewhere";
}

// A copy of a tiny checkpoint whose final norm weight is NaN: every logit is NaN.
fs::path nan_checkpoint() {
  const fs::path dst = fs::path(::testing::TempDir()) / "qg_tiny_nan";
  fs::remove_all(dst);
  fs::copy(model_dir(3), dst, fs::copy_options::recursive);
  const fs::path st = dst / "model.safetensors";
  std::string bytes = read_file(st);
  uint64_t hlen = 0;
  std::memcpy(&hlen, bytes.data(), 8);
  const auto header = nlohmann::json::parse(bytes.substr(8, hlen));
  const auto& t = header.at("model.norm.weight");
  const size_t begin = 8 + hlen + t.at("data_offsets")[0].get<size_t>();
  const size_t end = 8 + hlen + t.at("data_offsets")[1].get<size_t>();
  const std::string dtype = t.at("dtype");
  const std::string nan = dtype == "F32" ? std::string("\x00\x00\xc0\x7f", 4)
                          : dtype == "BF16" ? std::string("\xc0\x7f", 2) : std::string("\x00\x7e", 2);
  for (size_t i = begin; i < end; i += nan.size()) bytes.replace(i, nan.size(), nan);
  std::ofstream(st, std::ios::binary | std::ios::trunc) << bytes;
  return dst;
}

TEST(GuardFixes, NonFiniteLogitsGiveNoVerdict) {
  auto clf = load(nan_checkpoint());
  for (DecodeMode m : {DecodeMode::kFast, DecodeMode::kMaskedText, DecodeMode::kText}) {
    for (bool probs : {true, false}) {
      ClassifyOptions opt;
      opt.decode = m;
      opt.probabilities = probs;
      try {
        const Result r = clf->classify(prompt_conversation("How can I make a bomb?"), opt);
        ADD_FAILURE() << decode_mode_name(m) << ": a verdict from NaN logits: " << r.raw_text;
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("non-finite"), std::string::npos) << e.what();
      }
    }
  }
}

std::vector<nlohmann::json> parse_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(GuardFixes, BatchSurvivesAnyException) {
  auto clf = load(model_dir(3));
  std::string input;
  for (int i = 0; i < 8; ++i) input += R"({"prompt": "question number )" + std::to_string(i) + "\"}\n";
  // Line 3's submit throws a non-qg exception; line 5's moderation ends with one.
  const SubmitFn submit = [&](const Conversation& conv, const ClassifyOptions& opt, ResultCallback done) {
    if (conv.back().content == "question number 2") throw std::runtime_error("boom");
    if (conv.back().content == "question number 4") {
      done(Result{}, std::make_exception_ptr(std::bad_alloc()));
      return;
    }
    clf->submit(conv, opt, std::move(done));
  };
  BatchOptions opt;
  opt.source_name = "in.jsonl";
  std::istringstream in(input);
  std::ostringstream out;
  std::vector<std::string> warnings;
  const BatchStats st = run_batch(submit, in, out, opt, [&](const std::string& w) { warnings.push_back(w); },
                                  [](int64_t) {});
  EXPECT_EQ(st.records, 8);
  EXPECT_EQ(st.ok, 6);
  EXPECT_EQ(st.bad, 2);
  const auto got = parse_lines(out.str());
  ASSERT_EQ(got.size(), 8u);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i]["line"].get<int64_t>(), static_cast<int64_t>(i + 1));
  EXPECT_NE(got[2]["error"].get<std::string>().find("in.jsonl:3: internal error: boom"), std::string::npos);
  EXPECT_NE(got[4]["error"].get<std::string>().find("in.jsonl:5"), std::string::npos);
  ASSERT_EQ(warnings.size(), 2u);

  // --parallel 4 over a service that finishes out of order: the same lines, in order.
  std::mt19937 rng(5);
  std::vector<std::thread> threads;
  std::mutex mu;
  const SubmitFn async_catching = [&](const Conversation& conv, const ClassifyOptions& o, ResultCallback done) {
    const int delay_ms = std::uniform_int_distribution<int>(0, 20)(rng);
    std::lock_guard lock(mu);
    threads.emplace_back([&, conv, o, delay_ms, done = std::move(done)]() mutable {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      try {
        submit(conv, o, done);
      } catch (...) {
        done(Result{}, std::current_exception());
      }
    });
  };
  opt.parallel = 4;
  std::istringstream in2(input);
  std::ostringstream out2;
  const BatchStats st2 = run_batch(async_catching, in2, out2, opt, [](const std::string&) {}, [](int64_t) {});
  for (auto& t : threads) t.join();
  EXPECT_EQ(st2.ok, 6);
  EXPECT_EQ(st2.bad, 2);
  const auto got2 = parse_lines(out2.str());
  ASSERT_EQ(got2.size(), got.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got2[i]["line"], got[i]["line"]);
    EXPECT_EQ(got2[i].value("raw", ""), got[i].value("raw", ""));
    EXPECT_EQ(got2[i].contains("error"), got[i].contains("error"));
  }
}

}  // namespace
}  // namespace qg::guard
