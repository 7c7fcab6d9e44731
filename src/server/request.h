// Request parsing and validation at the edge: the raw HTTP body (and its
// Content-Type) of each POST route becomes either a native request struct that
// guard/ can run, or an ApiError with the status and the JSON path at fault. Pure
// functions (no model, no I/O, no globals): the fuzz target
// fuzz/fuzz_server_request.cpp drives them with arbitrary bytes.
//
// Hostile input: the body size is checked first, then the nesting depth by a
// pre-scan (before any JSON parser recursion), then nlohmann's parser (which also
// rejects invalid UTF-8), then every field's type and range. Unknown fields are
// ignored, as vLLM does. Token counts are checked later, after the chat template
// and the tokenizer (routes), since only they know the count.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "guard/inputs.h"
#include "guard/policy.h"
#include "server/api_error.h"

namespace qg::server {

struct Limits {
  size_t max_body_bytes = 4u << 20;  // --max-body-bytes
  int max_json_depth = 32;           // nesting of [ and {
  size_t max_messages = 256;         // per conversation
  size_t max_inputs = 64;            // moderation inputs / guardrail texts per request
  int max_n = 8;                     // chat choices per request
  int max_tokens = 2048;             // --max-tokens-limit: largest max_tokens accepted
  int default_max_tokens = 128;      // when the request names none (the official examples' max_new_tokens)
  int max_stop = 4;                  // stop strings (OpenAI's limit)
  size_t max_stop_bytes = 256;
  int max_top_logprobs = 20;         // OpenAI's limit
  int64_t max_input_tokens = 8192;   // --max-input-tokens, after the chat template (routes check it)
  size_t max_stream_ids = 4096;      // token_ids per Stream append
  size_t max_stream_text_bytes = 1u << 20;  // text per Stream append
};

template <typename T>
using Parsed = std::variant<T, ApiError>;

// ---- POST /v1/chat/completions

struct ChatRequest {
  std::optional<std::string> model;
  guard::Conversation messages;
  int max_tokens = 0;                // resolved: the request's, else Limits::default_max_tokens
  std::optional<double> temperature;  // absent: generation_config.json, else 1 (vLLM)
  std::optional<double> top_p;
  std::optional<int> top_k;           // -1 or 0: no limit
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  int n = 1;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool logprobs = false;
  int top_logprobs = 0;
};

// ---- POST /v1/moderations

struct ModerationRequest {
  std::optional<std::string> model;
  std::vector<guard::Conversation> inputs;  // one result per entry, in order
  std::optional<guard::Strictness> policy;  // extension: "strict" | "loose"
  std::vector<std::pair<guard::Category, double>> thresholds;  // extension: {"Violent": 0.3}
};

// ---- POST /beta/litellm_basic_guardrail_api (LiteLLM Generic Guardrail API)

struct GuardrailRequest {
  bool response = false;                    // input_type "response"
  std::vector<guard::Conversation> inputs;  // every conversation to judge; BLOCKED if any is flagged
};

// ---- Qwen3Guard-Stream sessions (POST /v1/stream/sessions, .../{id}/append)

struct StreamOpenRequest {
  std::optional<std::string> model;
  guard::Conversation messages;  // ends with a user message ({"prompt": s} is one user message)
};

struct StreamAppendRequest {
  std::optional<std::string> text;       // exactly one of text / token_ids (or neither with final)
  std::vector<int32_t> token_ids;        // each in 0..INT32_MAX here; the route checks the vocabulary
  bool has_ids = false;
  bool final = false;                    // the response ends after this chunk
  bool stream = false;                   // answer with server-sent events, one per token as scored
};

Parsed<StreamOpenRequest> parse_stream_open_request(std::string_view content_type, std::string_view body,
                                                    const Limits& lim);
Parsed<StreamAppendRequest> parse_stream_append_request(std::string_view content_type, std::string_view body,
                                                        const Limits& lim);

Parsed<ChatRequest> parse_chat_request(std::string_view content_type, std::string_view body, const Limits& lim);
Parsed<ModerationRequest> parse_moderation_request(std::string_view content_type, std::string_view body,
                                                   const Limits& lim);
Parsed<GuardrailRequest> parse_guardrail_request(std::string_view content_type, std::string_view body,
                                                 const Limits& lim);

// Maximum nesting depth of [ and { in `text`, outside strings (no allocation, no
// recursion); stops counting once `limit` is exceeded.
int json_depth(std::string_view text, int limit);

}  // namespace qg::server
