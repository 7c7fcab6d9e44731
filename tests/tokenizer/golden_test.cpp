// Committed goldens from the oracle (tools/tokenizer/make_goldens.js): encodes in template
// and content mode over >= 60 languages, the adversarial list and invalid UTF-8, and
// decodes of partial UTF-8; every id and every decoded string must match exactly.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_support.h"
#include "tokenizer/unicode.h"

namespace qg::tok {
namespace {

using test::golden_path;
using test::qwen3;

struct Case {
  nlohmann::json j;
  std::string input;  // raw bytes
};

std::vector<Case> load_corpus() {
  std::vector<Case> cases;
  std::istringstream in(test::read_all(golden_path("corpus.jsonl")));
  std::string line;
  while (std::getline(in, line)) {
    Case c{nlohmann::json::parse(line), {}};
    if (c.j.contains("hex")) c.input = test::from_hex(c.j["hex"]);
    else if (c.j.contains("text") && c.j.contains("mode")) c.input = c.j["text"];
    cases.push_back(std::move(c));
  }
  return cases;
}

TEST(TokenizerGolden, CorpusCoversTheIssueList) {
  const auto cases = load_corpus();
  std::set<std::string> langs;
  for (const auto& c : cases) {
    const std::string name = c.j["name"];
    if (name.rfind("lang/", 0) == 0) langs.insert(name);
  }
  EXPECT_GE(langs.size(), 60u);
  EXPECT_GT(cases.size(), 1000u);
}

TEST(TokenizerGolden, EncodeMatchesOracle) {
  const auto& tok = qwen3();
  size_t checked = 0, bad = 0;
  for (const auto& c : load_corpus()) {
    if (!c.j.contains("mode")) continue;
    const Origin origin = c.j["mode"] == "content" ? Origin::kContent : Origin::kTemplate;
    const auto ids = tok.encode(c.input, origin);
    const auto expect = c.j["ids"].get<std::vector<int32_t>>();
    ++checked;
    if (ids != expect && ++bad <= 10) {
      ADD_FAILURE() << c.j["name"] << " (" << c.j["mode"] << "): ids differ from the oracle\n  oracle: "
                    << nlohmann::json(expect).dump() << "\n  ours:   " << nlohmann::json(ids).dump();
    }
  }
  EXPECT_EQ(bad, 0u) << "of " << checked;
  EXPECT_GT(checked, 900u);
}

TEST(TokenizerGolden, SegmentedEncodeEqualsWholeForTemplateText) {
  // Splitting template text into several template segments changes nothing.
  const auto& tok = qwen3();
  for (const auto& c : load_corpus()) {
    if (c.j.value("mode", "") != "template" || c.input.size() < 4) continue;
    const size_t cut = c.input.size() / 3;
    Segments segs{{c.input.substr(0, cut), Origin::kTemplate}, {c.input.substr(cut), Origin::kTemplate}};
    if (!is_valid_utf8(segs[0].text) || !is_valid_utf8(segs[1].text)) continue;  // repair is per segment
    EXPECT_EQ(tok.encode(segs), c.j["ids"].get<std::vector<int32_t>>()) << c.j["name"];
  }
}

TEST(TokenizerGolden, DecodeMatchesOracle) {
  const auto& tok = qwen3();
  size_t checked = 0;
  for (const auto& c : load_corpus()) {
    if (!c.j.contains("decode")) continue;
    const auto ids = c.j["decode"].get<std::vector<int32_t>>();
    const bool skip = c.j["skip"];
    const std::string expect = c.j["text"];
    EXPECT_EQ(tok.decode(ids, skip), expect) << c.j["name"] << " skip=" << skip;
    IncrementalDecoder dec(tok, skip);
    std::string streamed;
    for (int32_t id : ids) streamed += dec.push(id);
    streamed += dec.finish();
    EXPECT_EQ(streamed, expect) << c.j["name"] << " (incremental) skip=" << skip;
    ++checked;
  }
  EXPECT_GE(checked, 400u);
}

TEST(TokenizerGolden, RoundTripIsNfcOfTheRepairedInput) {
  // decode(encode(s)) == NFC(s) for user content (nothing is matched, so NFC applies to
  // the whole string); for invalid UTF-8, s is first repaired as from_utf8_lossy does.
  const auto& tok = qwen3();
  for (const auto& c : load_corpus()) {
    if (c.j.value("mode", "") != "content") continue;
    std::string repaired, nfc;
    append_utf8_lossy(repaired, c.input);
    nfc_append(nfc, repaired);
    EXPECT_EQ(tok.decode(tok.encode(c.input, Origin::kContent)), nfc) << c.j["name"];
  }
}

}  // namespace
}  // namespace qg::tok
