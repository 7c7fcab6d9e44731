// Goldens: every case in tests/chat/golden/cases.jsonl rendered by our interpreter must
// equal, byte for byte, what python3-jinja2 (configured as transformers) rendered for it
// (expected.jsonl, written by tools/chat/make_goldens.py); where jinja2 raised, we must
// raise too. The three prompts captured from the official Qwen3Guard-Gen template are
// also checked against ../shared directly.
#include <fstream>
#include <map>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "chat/chat_template.h"

namespace {

using nlohmann::ordered_json;
const std::string kDir = QG_CHAT_TEST_DIR;

std::vector<ordered_json> read_jsonl(const std::string& path) {
  std::ifstream f(path);
  EXPECT_TRUE(f.good()) << path;
  std::vector<ordered_json> out;
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) out.push_back(ordered_json::parse(line));
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::string fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  char buf[17];
  snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// {"$repeat": text, "times": n} contents keep long inputs small on disk.
ordered_json expand(ordered_json messages) {
  for (auto& m : messages)
    if (m.contains("content") && m["content"].is_object() && m["content"].contains("$repeat")) {
      std::string s;
      for (int i = 0; i < m["content"]["times"].get<int>(); ++i) s += m["content"]["$repeat"].get<std::string>();
      m["content"] = s;
    }
  return messages;
}

struct Rendered {
  bool ok = false;
  std::string text, error;
};

Rendered render_case(const ordered_json& c, std::map<std::string, std::unique_ptr<qg::chat::ChatTemplate>>& cache) {
  const std::string name = c["template"].get<std::string>();
  if (!cache.count(name))
    cache[name] = qg::chat::ChatTemplate::from_source(read_file(kDir + "/templates/" + name), name);
  auto& t = *cache[name];
  std::map<std::string, qg::chat::Value> special;
  if (c.contains("special_tokens"))
    for (const auto& [k, v] : c["special_tokens"].items()) special[k] = qg::chat::Value::from_json(v, qg::Origin::kTemplate);
  t.set_special_tokens(special);
  qg::chat::RenderOptions opts;
  opts.add_generation_prompt = c.value("add_generation_prompt", false);
  if (c.contains("kwargs"))
    for (const auto& [k, v] : c["kwargs"].items()) opts.extra[k] = qg::chat::Value::from_json(v);
  Rendered r;
  try {
    r.text = qg::join_text(t.render(qg::chat::Value::from_json(expand(c["messages"])), opts));
    r.ok = true;
  } catch (const qg::Error& e) {
    r.error = e.what();
  }
  return r;
}

TEST(ChatGolden, AllCasesMatchJinja2) {
  const auto cases = read_jsonl(kDir + "/golden/cases.jsonl");
  const auto expected = read_jsonl(kDir + "/golden/expected.jsonl");
  ASSERT_EQ(cases.size(), expected.size());
  ASSERT_GE(cases.size(), 200u);
  std::map<std::string, std::unique_ptr<qg::chat::ChatTemplate>> cache;
  std::map<std::string, int> per_template;
  int compared = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const auto& e = expected[i];
    ASSERT_EQ(c["id"], e["id"]);
    const Rendered r = render_case(c, cache);
    const std::string id = c["id"].get<std::string>();
    if (e.contains("error")) {
      EXPECT_FALSE(r.ok) << id << ": jinja2 raised (" << e["error"] << ") but we rendered";
      continue;
    }
    ASSERT_TRUE(r.ok) << id << ": " << r.error;
    if (e.contains("fnv1a64")) {
      EXPECT_EQ(r.text.size(), e["len"].get<size_t>()) << id;
      EXPECT_EQ(fnv1a64(r.text), e["fnv1a64"].get<std::string>()) << id;
    } else {
      EXPECT_EQ(r.text, e["text"].get<std::string>()) << id;
    }
    ++per_template[c["template"].get<std::string>()];
    ++compared;
  }
  EXPECT_EQ(per_template.size(), 7u);
  EXPECT_GE(compared, 200);
}

TEST(ChatGolden, SharedQwen3GuardGenPromptsByteForByte) {
  const std::string shared = QG_SHARED_DIR;
  std::map<std::string, std::unique_ptr<qg::chat::ChatTemplate>> cache;
  int seen = 0;
  for (const auto& c : read_jsonl(kDir + "/golden/cases.jsonl")) {
    if (!c.contains("shared_file")) continue;
    const std::string path = shared + "/" + c["shared_file"].get<std::string>();
    std::ifstream probe(path);
    if (!probe) GTEST_SKIP() << path << " not present";
    const Rendered r = render_case(c, cache);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.text, read_file(path)) << path;
    ++seen;
  }
  EXPECT_EQ(seen, 3);
}

}  // namespace
