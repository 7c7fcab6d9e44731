// libFuzzer target: the server's request parsing and validation (server/request.h),
// the pure edge every POST body goes through before anything else sees it. The first
// byte picks the route and the Content-Type; the rest is the body. Properties checked
// beyond "no crash, no leak, no UB": a rejection is a 4xx with a message and renders
// as an envelope, an accepted request respects every limit.
//
// Build by hand (until the CMake helper qg_add_fuzz_target is merged):
//   clang++-16 -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -Isrc \
//     fuzz/fuzz_server_request.cpp src/server/{wire_json,request,request_moderation}.cpp \
//     src/guard/{labels,policy,inputs}.cpp src/base/error.cpp -o build/fuzz_server_request
//   build/fuzz_server_request -max_total_time=60 -max_len=4096
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "server/request.h"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

void check_error(const qg::server::ApiError& e) {
  require(e.status >= 400 && e.status < 500);
  require(!e.message.empty());
  require(qg::server::error_body(e).find("\"error\"") != std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace qg::server;
  if (size == 0) return 0;
  static const Limits lim = [] {
    Limits l;
    l.max_body_bytes = 1 << 16;
    return l;
  }();
  const uint8_t sel = data[0];
  const std::string_view content_type = (sel & 0x80) ? "text/plain" : (sel & 0x40) ? "Application/JSON; charset=utf-8"
                                                                                   : "application/json";
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (sel % 3) {
    case 0: {
      auto r = parse_chat_request(content_type, body, lim);
      if (auto* e = std::get_if<ApiError>(&r)) {
        check_error(*e);
      } else {
        const auto& c = std::get<ChatRequest>(r);
        require(!c.messages.empty() && c.messages.size() <= lim.max_messages);
        require(c.max_tokens >= 1 && c.max_tokens <= lim.max_tokens);
        require(c.n >= 1 && c.n <= lim.max_n);
        require(c.stop.size() <= static_cast<size_t>(lim.max_stop));
        require(c.top_logprobs >= 0 && c.top_logprobs <= lim.max_top_logprobs);
        require(!c.temperature || (*c.temperature >= 0 && *c.temperature <= 2));
        require(!c.top_p || (*c.top_p > 0 && *c.top_p <= 1));
        for (const auto& m : c.messages) require(m.role == "system" || m.role == "user" || m.role == "assistant");
      }
      break;
    }
    case 1: {
      auto r = parse_moderation_request(content_type, body, lim);
      if (auto* e = std::get_if<ApiError>(&r)) {
        check_error(*e);
      } else {
        const auto& m = std::get<ModerationRequest>(r);
        require(!m.inputs.empty() && m.inputs.size() <= lim.max_inputs);
        for (const auto& c : m.inputs) require(!c.empty());
        for (const auto& [cat, t] : m.thresholds) require(t >= 0 && t <= 1);
      }
      break;
    }
    default: {
      auto r = parse_guardrail_request(content_type, body, lim);
      if (auto* e = std::get_if<ApiError>(&r)) {
        check_error(*e);
      } else {
        const auto& g = std::get<GuardrailRequest>(r);
        require(!g.inputs.empty() && g.inputs.size() <= lim.max_inputs);
      }
      break;
    }
  }
  return 0;
}
