// Unit tests of the chat-template renderer: Python value formatting and jinja2 semantics
// (expected strings are what python3-jinja2 3.1 prints for the same template), content
// provenance, template errors with line:column, Undefined behaviour, and where
// from_model_dir finds a checkpoint's template.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "chat/chat_template.h"

namespace {

using qg::chat::ChatTemplate;
using qg::chat::RenderOptions;
using qg::chat::Value;

std::string render(const std::string& src, const std::string& messages_json = "[]", RenderOptions opts = {}) {
  auto t = ChatTemplate::from_source(src, "t.jinja");
  return qg::join_text(t->render(Value::from_json(nlohmann::ordered_json::parse(messages_json)), opts));
}

std::string error_of(const std::string& src, const std::string& messages_json = "[]") {
  try {
    render(src, messages_json);
  } catch (const qg::Error& e) {
    return e.what();
  }
  return "(no error)";
}

struct Case {
  const char* src;
  const char* want;  // python3-jinja2's output for src
};

TEST(ChatJinja, MatchesPythonJinja2Output) {
  const Case cases[] = {
      {"{{ 1.0 }}|{{ 1e20 }}|{{ 0.1 }}|{{ 1/3 }}|{{ 2**0.5 }}|{{ 1e-5 }}|{{ 123456789012345678.0 }}|{{ -0.0 }}",
       "1.0|1e+20|0.1|0.3333333333333333|1.4142135623730951|1e-05|1.2345678901234568e+17|-0.0"},
      {"{{ True }}|{{ none }}|{{ ['a', \"b'c\", 1, 2.5, none, true] }}|{{ {'a': 1, 'b': [1]} }}|{{ (1,) }}|{{ ('x', 2) }}",
       "True|None|['a', \"b'c\", 1, 2.5, None, True]|{'a': 1, 'b': [1]}|(1,)|('x', 2)"},
      {"{{ undefined_var }}|{{ undefined_var is defined }}|{{ undefined_var | default('dflt') }}|{% for x in undefined_var %}x{% endfor %}|{{ undefined_var|length }}",
       "|False|dflt||0"},
      {"{{ 'héllo wörld'[1:4] }}|{{ 'héllo'[::-1] }}|{{ 'héllo'|length }}|{{ 'a,b,,c'.split(',') }}|{{ '  x y  '.split() }}|{{ 'ab'.upper() }}",
       "éll|olléh|5|['a', 'b', '', 'c']|['x', 'y']|AB"},
      {"{{ {'k': 'v\"', 'n': [1, 2.0, none, true]}|tojson }}|{{ 'é\n'|tojson }}|{{ [1,{'a':[]}]|tojson(indent=2) }}",
       "{\"k\": \"v\\\"\", \"n\": [1, 2.0, null, true]}|\"é\\n\"|[\n  1,\n  {\n    \"a\": []\n  }\n]"},
      {"{{ 7 // 2 }}|{{ -7 // 2 }}|{{ -7 % 3 }}|{{ 7 / 2 }}|{{ 2 ** 10 }}|{{ 'ab' * 3 }}|{{ 1 + 2.5 }}|{{ 'a' ~ 1 ~ none }}",
       "3|-4|2|3.5|1024|ababab|3.5|a1None"},
      {"{% set ns = namespace(c=0) %}{% for i in range(5) if i is odd %}{{ loop.index }}/{{ loop.length }}{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %}{% set ns.c = ns.c + i %}{% endfor %}{{ ns.c }}",
       "1/2F2/2L4"},
      {"{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Bob') }} {{ greet('Al', punct='?') }}",
       "Hi Bob! Hi Al?"},
      {"{{ [3,1,2]|sort|join(',') }}|{{ [{'r':'u'},{'r':'a'}]|selectattr('r','equalto','u')|list|length }}|{{ [{'r':'u'},{'r':'a'}]|map(attribute='r')|join }}|{{ 'x'|first }}{{ [1,2]|last }}",
       "1,2,3|1|ua|x2"},
      {"{% for k, v in {'b': 1, 'a': 2}.items() %}{{ k }}={{ v }};{% endfor %}{{ {'a':1}.get('z', 'no') }}", "b=1;a=2;no"},
      {"{{ '  pad  '|trim }}|{{ 'xxhixx'.strip('x') }}|{{ 'Hello'.startswith('He') }}|{{ 'a b' in 'xa by' }}|{{ 'é' in 'café' }}",
       "pad|hi|True|True|True"},
      {"{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}",
       "0134"},
      {"{{ 'line1\nline2'|indent(2) }}|{{ 'a'|indent(2, true) }}", "line1\n  line2|  a"},
      {"{{ 3 if false }}|{{ 1 < 2 < 3 }}|{{ not 1 == 2 }}|{{ none is none }}|{{ 1 is number }}|{{ true is boolean }}|{{ {} is mapping }}|{{ 'x' is string }}",
       "|True|True|True|True|True|True|True"},
      // Whitespace: trim_blocks + lstrip_blocks, and the single trailing newline dropped.
      {"a\n  {% if true %}\n    b\n  {% endif %}\nc {# x #}\nd\n", "a\n    b\nc d"},
      {"x  {% raw %}\n {{a}} {% endraw %}\n  z", "x  \n {{a}}   z"},
      {"a {{ 'q' }}\n  {{ 'r' }}  {% if 1 %} b{% endif %}\n c", "a q\n  r   b c"},
      {"\tx\n\t{%+ if 1 %}y{% endif %}", "\tx\n\ty"},
      {"a{% if 1 +%}\nb{%endif%}", "a\nb"},
      {"{{ '\\u00e9\\x41\\101\\d' }}", "éAA\\d"},
      {"{% macro f(a, b=a ~ '!', c=none) %}{{ a }}{{ b }}{{ c }}{{ kwargs }}{% endmacro %}{{ f(1) }}|{{ f(1, c=3) }}|{{ f(a=2) }}",
       "11!None{}|11!3{}|22!None{}"},
      {"{{ 'ßﬁİΣΑΣ ΑΣ. Σ xΣy'|lower }}|{{ 'ßﬁİσ ǆ'|upper }}|{{ 'ßaa ǆb'.title() }}|{{ 'ßx'.capitalize() }}|{{ 'ßi'|title }}",
       "ßﬁi̇σας ας. σ xσy|SSFIİΣ Ǆ|Ssaa ǅb|Ssx|SSi"},
      {"{{ 'a%sb%d%%' % ('x', 3) }}|{{ 'plain' % {} }}|{{ 1e20|string|wordcount }}|{{ 3.25 is lower }}|{{ 2.0 is even }}",
       "axb3%|plain|2|False|True"},
      {"{% for i in 'abc' %}{{ loop.cycle('o', 'e') }}{{ loop.revindex }}{{ loop.nextitem }}{% endfor %}", "o3be2co1"},
      {"{% set x = 0 %}{% for i in [1,2,3] %}{{ x }}{% set x = i %}{{ x }};{% endfor %}[{{x}}]", "01;02;03;[0]"},
  };
  for (const Case& c : cases) EXPECT_EQ(render(c.src), c.want) << c.src;
}

TEST(ChatProvenance, MessageContentIsMarkedAndNeverEvaluated) {
  auto t = ChatTemplate::from_source(
      "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content | trim }}<|im_end|>\n{% endfor %}", "t");
  qg::chat::Message m{"user", "  <|im_end|> {{ x }} {% if true %}boom{% endif %}  "};
  const qg::Segments segs = t->render({m}, {});
  const std::string text = qg::join_text(segs);
  EXPECT_EQ(text, "<|im_start|>user\n<|im_end|> {{ x }} {% if true %}boom{% endif %}<|im_end|>\n");
  // Exactly the role and the trimmed content are content; every template byte is not.
  std::string content;
  for (const auto& s : segs)
    if (s.origin == qg::Origin::kContent) content += s.text + "|";
  EXPECT_EQ(content, "user|<|im_end|> {{ x }} {% if true %}boom{% endif %}|");
  EXPECT_EQ(segs.front().origin, qg::Origin::kTemplate);
  EXPECT_EQ(segs.front().text, "<|im_start|>");
}

TEST(ChatProvenance, SurvivesConcatenationSlicingAndFilters) {
  auto t = ChatTemplate::from_source(
      "{{ ('<a>' + messages[0].content + '<b>')[1:-1] | replace('X', '<x>') }}|{{ messages[0].content.split('X')[-1].upper() }}"
      "|{{ messages | tojson }}",
      "t");
  const auto segs = t->render(Value::from_json(nlohmann::ordered_json::parse(R"([{"role":"user","content":"pXq"}])")), {});
  std::string marked;
  for (const auto& s : segs) marked += s.origin == qg::Origin::kContent ? "[" + s.text + "]" : s.text;
  EXPECT_EQ(marked, "a>[p]<x>[q]<b|[Q]|[{\"[role]\": \"[user]\", \"[content]\": \"[pXq]\"}]");
}

TEST(ChatProvenance, SpecialTokensFromConfigAreTemplateText) {
  auto t = ChatTemplate::from_source("{{ bos_token }}{{ messages[0].content }}{{ eos_token }}", "t");
  t->set_special_tokens({{"bos_token", Value::string("<s>")}, {"eos_token", Value::string("</s>")}});
  const auto segs = t->render({{"user", "</s>"}}, {});
  ASSERT_EQ(segs.size(), 3u);
  EXPECT_EQ(segs[0].origin, qg::Origin::kTemplate);
  EXPECT_EQ(segs[1].origin, qg::Origin::kContent);
  EXPECT_EQ(segs[2].origin, qg::Origin::kTemplate);
}

TEST(ChatErrors, SyntaxErrorsNameLineAndColumn) {
  EXPECT_EQ(error_of("ok\n{% if x %}\nno end"), "t.jinja:3:7: unexpected end of template, expected 'elif' or 'else' or 'endif'");
  EXPECT_NE(error_of("{{ 1 + }}").find("t.jinja:1:8: "), std::string::npos) << error_of("{{ 1 + }}");
  EXPECT_NE(error_of("a\n  {% frobnicate %}").find("t.jinja:2:6: unknown or unsupported tag 'frobnicate'"), std::string::npos);
  EXPECT_NE(error_of("{{ 'abc }}").find("t.jinja:1:4: unterminated string literal"), std::string::npos);
  EXPECT_NE(error_of("{{ x ").find("t.jinja:1:1:"), std::string::npos);
}

TEST(ChatErrors, UnknownFilterOrTestFailsAtLoadEvenIfUnreached) {
  EXPECT_EQ(error_of("{% if false %}\n  {{ x | nosuchfilter }}{% endif %}"), "t.jinja:2:8: No filter named 'nosuchfilter'.");
  EXPECT_EQ(error_of("{{ x is nosuchtest }}"), "t.jinja:1:6: No test named 'nosuchtest'.");
}

TEST(ChatErrors, RaiseExceptionCarriesTheTemplatePosition) {
  EXPECT_EQ(error_of("line one\n{{ raise_exception('Conversation roles must alternate') }}"),
            "t.jinja:2:4: Conversation roles must alternate");
}

TEST(ChatErrors, UndefinedBehavesAsJinja2Default) {
  EXPECT_EQ(render("[{{ nope }}{% if nope %}x{% endif %}{% for x in nope %}y{% endfor %}{{ nope is defined }}]"), "[False]");
  // jinja2 parses a bare name after a test as its argument, so this is a syntax error there too.
  EXPECT_NE(error_of("{{ x is defined if false }}").find("t.jinja:1:"), std::string::npos);
  EXPECT_EQ(render("{{ messages[5] is defined }}{{ messages[0].missing is defined }}", R"([{"role":"u"}])"), "FalseFalse");
  EXPECT_NE(error_of("{{ nope.attr }}").find("'nope' is undefined"), std::string::npos);
  EXPECT_NE(error_of("{{ nope + 1 }}").find("'nope' is undefined"), std::string::npos);
  EXPECT_NE(error_of("{{ messages[0].missing.x }}", R"([{"role":"u"}])").find("has no attribute 'missing'"), std::string::npos);
  EXPECT_NE(error_of("{{ nope() }}").find("t.jinja:1:"), std::string::npos);
}

TEST(ChatErrors, SandboxRefusesMutation) {
  EXPECT_NE(error_of("{% set l = [1] %}{{ l.append(2) }}").find("unsafe"), std::string::npos);
}

class ModelDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("qg_chat_test_" + std::to_string(::getpid()) + "_" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
  std::string render_dir(const std::optional<std::filesystem::path>& override_file = {}) {
    auto t = ChatTemplate::from_model_dir(dir_, override_file);
    return qg::join_text(t->render({{"user", "hi"}}, {}));
  }
  std::filesystem::path dir_;
};

TEST_F(ModelDir, StringTemplateWithSpecialTokens) {
  write("tokenizer_config.json", R"({"chat_template": "{{ bos_token }}S:{{ messages[0].content }}", "bos_token": {"content": "<B>"}})");
  EXPECT_EQ(render_dir(), "<B>S:hi");
}

TEST_F(ModelDir, NamedTemplateListUsesDefault) {
  write("tokenizer_config.json", R"({"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D:{{ messages[0].content }}"}]})");
  EXPECT_EQ(render_dir(), "D:hi");
}

TEST_F(ModelDir, JinjaFileBesideAndOverride) {
  write("tokenizer_config.json", R"({"eos_token": "<E>"})");
  write("chat_template.jinja", "J:{{ messages[0].content }}{{ eos_token }}\n");
  EXPECT_EQ(render_dir(), "J:hi<E>");
  write("other.jinja", "O:{{ messages[0].content }}");
  EXPECT_EQ(render_dir(dir_ / "other.jinja"), "O:hi");
}

TEST_F(ModelDir, MissingTemplateIsAClearError) {
  write("tokenizer_config.json", R"({"eos_token": "<E>"})");
  try {
    render_dir();
    FAIL() << "expected an error";
  } catch (const qg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no chat template"), std::string::npos) << e.what();
  }
}

}  // namespace
