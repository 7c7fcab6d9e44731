// The Jinja evaluation budget (chat/render_limits.h) and the structural limits (parser
// nesting, value nesting, integer overflow): each fires with a message naming the limit,
// and every real chat template renders a long conversation with a hundredth of the default
// budget, so the defaults leave at least 100x headroom.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "chat/chat_template.h"

namespace {

using qg::chat::ChatTemplate;
using qg::chat::RenderOptions;
using qg::chat::Value;

std::string error_of(const std::string& src, RenderOptions opts = {}) {
  try {
    auto t = ChatTemplate::from_source(src, "t.jinja");
    t->render(Value::from_json(nlohmann::ordered_json::parse(R"([{"role":"user","content":"hi"}])")), opts);
  } catch (const qg::Error& e) {
    return e.what();
  }
  return "(no error)";
}

#define EXPECT_ERROR_HAS(src, frag) EXPECT_NE(error_of(src).find(frag), std::string::npos) << error_of(src)

TEST(ChatBudget, StepsOutputStringsItems) {
  // 10^10 iterations, stopped by a (small, so this test stays fast under ASan) step budget;
  // the default budget stops it in ~2 s (tests/hostile).
  RenderOptions budget;
  budget.limits.max_steps = 200000;
  EXPECT_NE(error_of("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", budget)
                .find("RenderLimits::max_steps"),
            std::string::npos);
  EXPECT_ERROR_HAS("{{ 'a' * 10**10 }}", "RenderLimits::max_string_bytes");
  EXPECT_ERROR_HAS("{{ [1, 2] * 10**9 }}", "RenderLimits::max_items");
  RenderOptions out_small;
  out_small.limits.max_output_bytes = 1 << 20;
  EXPECT_NE(error_of("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", out_small).find("RenderLimits::max_output_bytes"),
            std::string::npos);
  EXPECT_ERROR_HAS("{{ 'x' | indent(10**12) }}", "RenderLimits::max_string_bytes");
  EXPECT_ERROR_HAS("{{ ('a' * 100000) | replace('', 'b' * 1000) }}", "RenderLimits::max_string_bytes");
  EXPECT_ERROR_HAS("{{ [1] | tojson(indent=10**9) }}", "allowed: up to 1024");
  EXPECT_ERROR_HAS("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "RenderLimits::max_call_depth");
  // The budget is per render and overridable.
  RenderOptions small;
  small.limits.max_steps = 1000;
  EXPECT_NE(error_of("{% for i in range(1000) %}{% endfor %}", small).find("1000 steps"), std::string::npos);
  EXPECT_EQ(error_of("{% for i in range(1000) %}{% endfor %}"), "(no error)");
  // Cheap ways to ask for nothing stay cheap.
  EXPECT_EQ(error_of("{{ '' * 10**18 }}{{ [] * 10**18 }}{{ 1 ** 10**18 }}{{ 'a' * -5 }}"), "(no error)");
}

TEST(ChatBudget, Integers) {
  EXPECT_ERROR_HAS("{{ (-9223372036854775807 - 1) // -1 }}", "integer overflow");
  EXPECT_ERROR_HAS("{{ -(-9223372036854775807 - 1) }}", "integer overflow");
  EXPECT_ERROR_HAS("{{ (-9223372036854775807 - 1) | abs }}", "integer overflow");
  EXPECT_ERROR_HAS("{{ 3 ** 10**18 }}", "integer overflow");
  EXPECT_ERROR_HAS("{{ 2 ** 63 }}", "integer overflow");
  EXPECT_EQ(error_of("{{ 2 ** 62 }}{{ (-2) ** 63 }}{{ (-9223372036854775807 - 1) % -1 }}"), "(no error)");
  EXPECT_ERROR_HAS("{{ '%d' % 1e300 }}", "64-bit integer range");
}

TEST(ChatBudget, Nesting) {
  const int n = 100000;
  EXPECT_ERROR_HAS("{{ " + std::string(n, '(') + "1" + std::string(n, ')') + " }}", "nested deeper than 256");
  std::string chain = "{{ 1";
  for (int i = 0; i < n; ++i) chain += "+1";
  EXPECT_ERROR_HAS(chain + " }}", "nested deeper than 256");
  std::string ifs;
  for (int i = 0; i < 10000; ++i) ifs += "{% if true %}";
  for (int i = 0; i < 10000; ++i) ifs += "{% endif %}";
  EXPECT_ERROR_HAS(ifs, "nested deeper than 256");
  EXPECT_ERROR_HAS("{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}",
                   "nested");
  EXPECT_ERROR_HAS("{% set ns = namespace(a=1) %}{% set ns.a = ns %}{{ ns }}", "cannot hold a namespace");
  // 200 levels are fine.
  EXPECT_EQ(error_of("{{ " + std::string(200, '(') + "1" + std::string(200, ')') + " }}"), "(no error)");
}

std::string read(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Every real template renders 200 messages (with a system prompt) under 1/100 of each
// default limit.
TEST(ChatBudget, RealTemplatesFitWithHundredfoldMargin) {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(QG_CHAT_TEST_DIR "/templates")) {
    if (e.path().extension() == ".jinja") files.push_back(e.path());
  }
  for (const char* rel : {"/qwen3guard/gen/chat_template.RECONSTRUCTED.jinja", "/qwen3guard/stream/chat_template.jinja"}) {
    if (std::filesystem::exists(std::string(QG_SHARED_DIR) + rel)) files.push_back(std::string(QG_SHARED_DIR) + rel);
  }
  ASSERT_GE(files.size(), 7u);
  nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
  for (int i = 0; i < 200; ++i) {
    msgs.push_back({{"role", i % 2 ? "assistant" : "user"}, {"content", "message number " + std::to_string(i) + " with some text"}});
  }
  RenderOptions opts;
  const qg::chat::RenderLimits def;
  opts.limits.max_steps = def.max_steps / 100;
  opts.limits.max_output_bytes = def.max_output_bytes / 100;
  opts.limits.max_string_bytes = def.max_string_bytes / 100;
  opts.limits.max_items = def.max_items / 100;
  opts.add_generation_prompt = true;
  for (const auto& f : files) {
    auto t = ChatTemplate::from_source(read(f), f.filename().string());
    t->set_special_tokens({{"bos_token", Value::string("<s>")}, {"eos_token", Value::string("</s>")}});
    try {
      const auto seg = t->render(Value::from_json(msgs), opts);
      EXPECT_GT(qg::join_text(seg).size(), 200u * 20u) << f;
    } catch (const qg::Error& e) {
      // Templates may refuse a conversation shape (raise_exception); the budget must not.
      const std::string m = e.what();
      EXPECT_EQ(m.find("RenderLimits"), std::string::npos) << f << ": " << m;
      EXPECT_EQ(m.find("nested deeper"), std::string::npos) << f << ": " << m;
    }
  }
}

}  // namespace
