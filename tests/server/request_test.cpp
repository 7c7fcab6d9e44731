// The request parsers (server/request.h): valid requests become the native structs
// the routes run; each malformed one becomes a 4xx ApiError naming the field. The
// HTTP-level checks (auth, body limits on the wire, slow bodies) are in e2e_test.mjs.
#include "server/request.h"

#include <string>

#include <gtest/gtest.h>

namespace qg::server {
namespace {

constexpr const char* kJson = "application/json";
Limits lim;

ChatRequest chat_ok(const std::string& body) {
  auto r = parse_chat_request(kJson, body, lim);
  if (auto* e = std::get_if<ApiError>(&r)) ADD_FAILURE() << body << " -> " << e->message;
  return std::holds_alternative<ChatRequest>(r) ? std::get<ChatRequest>(r) : ChatRequest{};
}

TEST(ChatRequest, Fields) {
  const ChatRequest r = chat_ok(R"({"model": "m", "messages": [{"role": "system", "content": "s"},
      {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
      "max_completion_tokens": 7, "temperature": 0.5, "top_p": 0.9, "top_k": 20, "seed": -3, "stop": ["x", "yz"],
      "n": 2, "stream": true, "stream_options": {"include_usage": true}, "logprobs": true, "top_logprobs": 3,
      "user": "ignored", "unknown_field": {"ignored": true}})");
  EXPECT_EQ(*r.model, "m");
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[1].content, "a\nb");
  EXPECT_EQ(r.max_tokens, 7);
  EXPECT_DOUBLE_EQ(*r.temperature, 0.5);
  EXPECT_EQ(*r.top_k, 20);
  EXPECT_EQ(*r.seed, static_cast<uint64_t>(-3));
  EXPECT_EQ(r.stop, (std::vector<std::string>{"x", "yz"}));
  EXPECT_EQ(r.n, 2);
  EXPECT_TRUE(r.stream && r.include_usage && r.logprobs);
  EXPECT_EQ(r.top_logprobs, 3);
}

TEST(ChatRequest, Defaults) {
  const ChatRequest r = chat_ok(R"({"messages": [{"role": "developer", "content": "d"}, {"role": "user", "content": "hi"}]})");
  EXPECT_FALSE(r.model.has_value());
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.max_tokens, lim.default_max_tokens);
  EXPECT_FALSE(r.temperature.has_value());
  EXPECT_EQ(r.n, 1);
  EXPECT_FALSE(r.stream);
}

TEST(ModerationRequest, InputForms) {
  auto parse = [](const std::string& body) {
    auto r = parse_moderation_request(kJson, body, lim);
    if (auto* e = std::get_if<ApiError>(&r)) ADD_FAILURE() << body << " -> " << e->message;
    return std::holds_alternative<ModerationRequest>(r) ? std::get<ModerationRequest>(r) : ModerationRequest{};
  };
  EXPECT_EQ(parse(R"({"input": "x"})").inputs.size(), 1u);
  auto arr = parse(R"({"input": ["a", "b", {"prompt": "p", "response": "r"}, {"messages": [{"role": "user", "content": "m"}]}]})");
  ASSERT_EQ(arr.inputs.size(), 4u);
  EXPECT_EQ(arr.inputs[2].size(), 2u);
  EXPECT_EQ(arr.inputs[2][1].role, "assistant");
  auto parts = parse(R"({"input": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], "model": "x"})");
  ASSERT_EQ(parts.inputs.size(), 1u);
  EXPECT_EQ(parts.inputs[0][0].content, "a\nb");
  auto pol = parse(R"({"input": "x", "policy": "loose", "thresholds": {"violent": 0.25, "PII": 1}})");
  EXPECT_EQ(*pol.policy, guard::Strictness::kLoose);
  ASSERT_EQ(pol.thresholds.size(), 2u);
  // nlohmann's object keeps keys sorted: "PII" < "violent".
  EXPECT_EQ(pol.thresholds[1].first, guard::Category::kViolent);
  EXPECT_DOUBLE_EQ(pol.thresholds[1].second, 0.25);
}

TEST(GuardrailRequest, RequestAndResponse) {
  auto r = parse_guardrail_request(kJson, R"({"texts": ["a", "b"], "input_type": "request"})", lim);
  ASSERT_TRUE(std::holds_alternative<GuardrailRequest>(r));
  EXPECT_EQ(std::get<GuardrailRequest>(r).inputs.size(), 2u);
  auto s = parse_guardrail_request(kJson, R"({"texts": ["answer"], "input_type": "response",
      "structured_messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                              {"role": "tool", "content": "ignored"}]})", lim);
  ASSERT_TRUE(std::holds_alternative<GuardrailRequest>(s));
  const auto& g = std::get<GuardrailRequest>(s);
  ASSERT_EQ(g.inputs.size(), 1u);
  EXPECT_EQ(g.inputs[0][0].content, "q");
  EXPECT_EQ(g.inputs[0][1].content, "answer");
}

struct Bad {
  const char* route;  // chat | mod | guard
  const char* content_type;
  std::string body;
  int status;
  const char* param;  // expected param, "" = don't care
};

TEST(Requests, MalformedAreRejected) {
  const std::string deep = std::string(100, '[') + std::string(100, ']');
  const std::string deep_obj = R"({"messages": )" + std::string(40, '[') + std::string(40, ']') + "}";
  std::string many_msgs = R"({"messages": [)";
  for (int i = 0; i < 300; ++i) many_msgs += std::string(i ? "," : "") + R"({"role": "user", "content": "x"})";
  many_msgs += "]}";
  std::string many_inputs = R"({"input": [)";
  for (int i = 0; i < 65; ++i) many_inputs += std::string(i ? "," : "") + "\"x\"";
  many_inputs += "]}";
  const std::vector<Bad> cases = {
      {"chat", kJson, "", 400, ""},
      {"chat", kJson, "{", 400, ""},
      {"chat", kJson, "[1, 2]", 400, ""},
      {"chat", kJson, "\"str\"", 400, ""},
      {"chat", kJson, R"({"model": "m"})", 400, "messages"},
      {"chat", kJson, R"({"messages": []})", 400, "messages"},
      {"chat", kJson, R"({"messages": "hi"})", 400, "messages"},
      {"chat", kJson, R"({"messages": [{"role": "robot", "content": "x"}]})", 400, "messages[0].role"},
      {"chat", kJson, R"({"messages": [{"role": "tool", "content": "x"}]})", 400, "messages[0].role"},
      {"chat", kJson, R"({"messages": [{"content": "x"}]})", 400, "messages[0].role"},
      {"chat", kJson, R"({"messages": [{"role": "user"}]})", 400, "messages[0].content"},
      {"chat", kJson, R"({"messages": [{"role": "user", "content": 5}]})", 400, "messages[0].content"},
      {"chat", kJson, R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]})", 400, "messages[0].content[0].type"},
      {"chat", kJson, R"({"messages": [{"role": "system", "content": "only system"}]})", 400, "messages"},
      {"chat", kJson, R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0})", 400, "max_tokens"},
      {"chat", kJson, R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 1e12})", 400, "max_tokens"},
      {"chat", kJson, R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": "7"})", 400, "max_tokens"},
      {"chat", kJson, R"({"messages": [{"role": "user", "content": "x"}], "temperature": 3})", 400, "temperature"},
      {"chat", kJson, R"({"messages": [{"role": "user", "content": "x"}], "top_p": 0})", 400, "top_p"},
      {"chat", kJson, R"({"messages": [{"role": "user", "content": "x"}], "n": 100})", 400, "n"},
      {"chat", kJson, R"({"messages": [{"role": "user", "content": "x"}], "stop": ["a", "b", "c", "d", "e"]})", 400, "stop"},
      {"chat", kJson, R"({"messages": [{"role": "user", "content": "x"}], "stop": [1]})", 400, "stop[0]"},
      {"chat", kJson, R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 5})", 400, "top_logprobs"},
      {"chat", kJson, R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true, "top_logprobs": 21})", 400, "top_logprobs"},
      {"chat", kJson, R"({"messages": [{"role": "user", "content": "x"}], "stream_options": {"include_usage": true}})", 400, "stream_options"},
      {"chat", kJson, R"({"messages": [{"role": "user", "content": "x"}], "stream": "yes"})", 400, "stream"},
      {"chat", kJson, R"({"messages": [{"role": "user", "content": "x"}], "tools": [{}]})", 400, "tools"},
      {"chat", kJson, R"({"messages": [{"role": "user", "content": "x"}], "model": 7})", 400, "model"},
      {"chat", kJson, "{\"messages\": [{\"role\": \"user\", \"content\": \"\xff\xfe\"}]}", 400, ""},
      {"chat", kJson, "{\"messages\": [{\"role\": \"user\", \"content\": \"\xc3\"}]}", 400, ""},
      {"chat", kJson, deep, 400, ""},
      {"chat", kJson, R"({"messages": [{"role": "user", "content": "x"}], "temperature": 1e400})", 400, ""},  // found by the fuzzer
      {"mod", kJson, "089e67167(", 400, ""},
      {"chat", kJson, deep_obj, 400, ""},
      {"chat", kJson, many_msgs, 400, "messages"},
      {"chat", "text/plain", R"({"messages": [{"role": "user", "content": "x"}]})", 415, ""},
      {"chat", "", R"({"messages": [{"role": "user", "content": "x"}]})", 415, ""},
      {"chat", kJson, std::string(lim.max_body_bytes + 1, ' '), 413, ""},
      {"mod", kJson, R"({})", 400, "input"},
      {"mod", kJson, R"({"input": []})", 400, "input"},
      {"mod", kJson, R"({"input": 5})", 400, "input"},
      {"mod", kJson, R"({"input": [5]})", 400, "input[0]"},
      {"mod", kJson, R"({"input": {"response": "r"}})", 400, "input"},
      {"mod", kJson, R"({"input": [{"type": "image_url", "image_url": {"url": "data:"}}]})", 400, "input[0].type"},
      {"mod", kJson, many_inputs, 400, "input"},
      {"mod", kJson, R"({"input": "x", "policy": "lenient"})", 400, "policy"},
      {"mod", kJson, R"({"input": "x", "thresholds": {"Nope": 0.5}})", 400, "thresholds"},
      {"mod", kJson, R"({"input": "x", "thresholds": {"Violent": 2}})", 400, "thresholds"},
      {"mod", kJson, R"({"input": {"messages": [{"role": "user", "content": null}]}})", 400, "input.messages[0].content"},
      {"guard", kJson, R"({"texts": "x"})", 400, "texts"},
      {"guard", kJson, R"({"texts": [1]})", 400, "texts[0]"},
      {"guard", kJson, R"({"texts": ["x"], "input_type": "sideways"})", 400, "input_type"},
      {"guard", kJson, R"({"input_type": "request"})", 400, "texts"},
  };
  ASSERT_GE(cases.size(), 25u);
  for (const auto& c : cases) {
    std::variant<std::monostate, ApiError> got;
    const std::string route = c.route;
    if (route == "chat") {
      auto r = parse_chat_request(c.content_type, c.body, lim);
      if (auto* e = std::get_if<ApiError>(&r)) got = *e;
    } else if (route == "mod") {
      auto r = parse_moderation_request(c.content_type, c.body, lim);
      if (auto* e = std::get_if<ApiError>(&r)) got = *e;
    } else {
      auto r = parse_guardrail_request(c.content_type, c.body, lim);
      if (auto* e = std::get_if<ApiError>(&r)) got = *e;
    }
    const std::string shown = c.body.substr(0, 120);
    ASSERT_TRUE(std::holds_alternative<ApiError>(got)) << route << ": accepted " << shown;
    const ApiError& e = std::get<ApiError>(got);
    EXPECT_EQ(e.status, c.status) << shown << ": " << e.message;
    EXPECT_FALSE(e.message.empty());
    if (*c.param) EXPECT_EQ(e.param.value_or(""), c.param) << shown << ": " << e.message;
    // The envelope renders even when the message quotes invalid UTF-8.
    EXPECT_NE(error_body(e).find("\"error\""), std::string::npos);
  }
}

TEST(JsonDepth, CountsOutsideStrings) {
  EXPECT_EQ(json_depth(R"({"a": [[1], {"b": 2}]})", 32), 3);
  EXPECT_EQ(json_depth(R"({"a": "[[[[[[\"[[["})", 32), 1);
  EXPECT_GT(json_depth(std::string(1000000, '['), 32), 32);
}

// ---- Qwen3Guard-Stream session bodies (request_stream.cpp)

TEST(StreamRequest, Open) {
  auto a = parse_stream_open_request(kJson, R"({"prompt": "hi"})", lim);
  ASSERT_TRUE(std::holds_alternative<StreamOpenRequest>(a));
  ASSERT_EQ(std::get<StreamOpenRequest>(a).messages.size(), 1u);
  EXPECT_EQ(std::get<StreamOpenRequest>(a).messages[0].role, "user");
  auto b = parse_stream_open_request(kJson, R"({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]})", lim);
  ASSERT_TRUE(std::holds_alternative<StreamOpenRequest>(b));
  EXPECT_EQ(std::get<StreamOpenRequest>(b).messages.size(), 2u);
  for (const char* bad : {R"({})", R"({"prompt": 1})", R"({"prompt": "a", "messages": [{"role": "user", "content": "u"}]})",
                          R"({"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]})"}) {
    auto r = parse_stream_open_request(kJson, bad, lim);
    ASSERT_TRUE(std::holds_alternative<ApiError>(r)) << bad;
    EXPECT_EQ(std::get<ApiError>(r).status, 400) << bad;
  }
}

TEST(StreamRequest, Append) {
  auto a = parse_stream_append_request(kJson, R"({"token_ids": [0, 5, 2147483647], "final": true})", lim);
  ASSERT_TRUE(std::holds_alternative<StreamAppendRequest>(a));
  const auto& r = std::get<StreamAppendRequest>(a);
  EXPECT_TRUE(r.has_ids && r.final && !r.text);
  EXPECT_EQ(r.token_ids, (std::vector<int32_t>{0, 5, 2147483647}));
  auto t = parse_stream_append_request(kJson, R"({"text": "abc"})", lim);
  ASSERT_TRUE(std::holds_alternative<StreamAppendRequest>(t));
  EXPECT_EQ(*std::get<StreamAppendRequest>(t).text, "abc");
  EXPECT_TRUE(std::holds_alternative<StreamAppendRequest>(parse_stream_append_request(kJson, R"({"final": true})", lim)));
  Limits small = lim;
  small.max_stream_ids = 2;
  small.max_stream_text_bytes = 3;
  for (const char* bad : {R"({})", R"({"token_ids": [2147483648]})", R"({"token_ids": [-1]})", R"({"token_ids": [1.0]})",
                          R"({"token_ids": ["1"]})", R"({"token_ids": 1})", R"({"text": "a", "token_ids": [1]})",
                          R"({"token_ids": [1, 2, 3]})", R"({"text": "abcd"})", R"({"token_ids": [18446744073709551615]})"}) {
    auto r = parse_stream_append_request(kJson, bad, small);
    ASSERT_TRUE(std::holds_alternative<ApiError>(r)) << bad;
    EXPECT_EQ(std::get<ApiError>(r).status, 400) << bad;
  }
}

}  // namespace
}  // namespace qg::server
