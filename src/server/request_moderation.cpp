// parse_moderation_request and parse_guardrail_request (request.h).
//
// /v1/moderations `input` (OpenAI, ../shared/spec/PEERS.md §3, plus our extensions):
//   "text"                              one prompt moderation
//   ["a", "b"]                          one result per string
//   [{"type": "text", "text": ...}, ..] typed parts: ONE input, texts joined by "\n"
//   {"messages": [...]}                 a conversation (last role picks prompt/response)
//   {"prompt": P, "response": R}        response moderation (R optional: prompt only)
//   [ <string | {"messages"} | {"prompt", "response"}>, ... ]  one result each
// Image parts are refused: the model reads text only.
//
// LiteLLM Generic Guardrail API: {"texts": [...], "input_type": "request"|"response",
// "structured_messages": [OpenAI messages]} (other fields ignored). request: with
// structured_messages, the conversation as sent (up to its last user message) is
// judged, else each text is judged as a prompt. response: each text is judged as the
// assistant's answer to the last user message of structured_messages (an empty prompt
// when there is none).
#include <cctype>

#include "base/error.h"
#include "guard/labels.h"
#include "server/request.h"
#include "server/wire_json.h"

namespace qg::server {

using wire::json;
using wire::reject;

namespace {

// One element: string, {"messages"}, {"prompt", "response"}.
guard::Conversation one_input(const json& v, const std::string& path, const Limits& lim) {
  if (v.is_string()) return guard::prompt_conversation(v.get<std::string>());
  if (!v.is_object())
    reject(cat("'", path, "' must be a string, {\"messages\": [...]} or {\"prompt\": ..., \"response\": ...}"), path);
  if (const auto m = v.find("messages"); m != v.end()) {
    if (v.contains("prompt")) reject(cat("'", path, "' has both messages and prompt"), path);
    return wire::messages(*m, path + ".messages", lim);
  }
  const auto prompt = wire::opt_string(v, "prompt", path);
  if (!prompt) reject(cat("'", path, "' needs 'messages' or 'prompt'"), path);
  const auto response = wire::opt_string(v, "response", path);
  return response ? guard::response_conversation(*prompt, *response) : guard::prompt_conversation(*prompt);
}

bool typed_parts(const json& arr) {
  return !arr.empty() && arr[0].is_object() && arr[0].contains("type");
}

}  // namespace

Parsed<ModerationRequest> parse_moderation_request(std::string_view content_type, std::string_view body,
                                                   const Limits& lim) {
  try {
    const json j = wire::parse_body(content_type, body, lim);
    ModerationRequest r;
    r.model = wire::opt_string(j, "model", "");
    const auto in = j.find("input");
    if (in == j.end() || in->is_null()) reject("'input' is required", "input");
    if (in->is_array()) {
      if (in->empty()) reject("'input' must not be empty", "input");
      if (typed_parts(*in)) {
        r.inputs.push_back(guard::prompt_conversation(wire::content_text(*in, "input", lim)));
      } else {
        if (in->size() > lim.max_inputs)
          reject(cat("'input' has ", in->size(), " items; the limit is ", lim.max_inputs), "input");
        for (size_t i = 0; i < in->size(); ++i) r.inputs.push_back(one_input((*in)[i], cat("input[", i, "]"), lim));
      }
    } else {
      r.inputs.push_back(one_input(*in, "input", lim));
    }
    if (const auto p = wire::opt_string(j, "policy", "")) {
      if (*p != "strict" && *p != "loose") reject(cat("'policy' is '", p->substr(0, 64), "'; expected strict or loose"), "policy");
      r.policy = guard::strictness_from_name(*p);
    }
    if (const auto t = j.find("thresholds"); t != j.end() && !t->is_null()) {
      if (!t->is_object()) reject("'thresholds' must be an object {category: probability}", "thresholds");
      if (t->size() > static_cast<size_t>(guard::kNumCategories))
        reject("'thresholds' names more categories than exist", "thresholds");
      for (const auto& [name, value] : t->items()) {
        const std::string p = "thresholds." + name;
        guard::Category c;
        try {
          c = guard::category_from_user_name(name);
        } catch (const Error& e) {
          reject(cat("'", p.substr(0, 100), "': ", e.what()), "thresholds");
        }
        if (!value.is_number() || !(value.get<double>() >= 0 && value.get<double>() <= 1))
          reject(cat("'", p.substr(0, 100), "' must be a number in 0..1"), "thresholds");
        r.thresholds.emplace_back(c, value.get<double>());
      }
    }
    return r;
  } catch (const wire::Reject& e) {
    return e.error;
  }
}

Parsed<GuardrailRequest> parse_guardrail_request(std::string_view content_type, std::string_view body,
                                                 const Limits& lim) {
  try {
    const json j = wire::parse_body(content_type, body, lim);
    GuardrailRequest r;
    const std::string type = wire::opt_string(j, "input_type", "").value_or("request");
    if (type != "request" && type != "response")
      reject(cat("'input_type' is '", type.substr(0, 64), "'; expected request or response"), "input_type");
    r.response = type == "response";
    std::vector<std::string> texts;
    if (const auto t = j.find("texts"); t != j.end() && !t->is_null()) {
      if (!t->is_array()) reject("'texts' must be an array of strings", "texts");
      if (t->size() > lim.max_inputs) reject(cat("'texts' has ", t->size(), " items; the limit is ", lim.max_inputs), "texts");
      for (size_t i = 0; i < t->size(); ++i) {
        if (!(*t)[i].is_string()) reject(cat("'texts[", i, "]' must be a string"), cat("texts[", i, "]"));
        texts.push_back((*t)[i].get<std::string>());
      }
    }
    guard::Conversation conv;
    if (const auto s = j.find("structured_messages"); s != j.end() && !s->is_null() && !s->empty()) {
      // LiteLLM may pass the whole request, tool and system turns included: keep what
      // the template can render.
      if (!s->is_array()) reject("'structured_messages' must be an array of messages", "structured_messages");
      json kept = json::array();
      for (const auto& m : *s) {
        if (m.is_object() && m.contains("role") && m["role"].is_string()) {
          const std::string role = m["role"].get<std::string>();
          if (role == "system" || role == "developer" || role == "user" || role == "assistant") kept.push_back(m);
        }
      }
      if (!kept.empty()) conv = wire::messages(kept, "structured_messages", lim);
    }
    if (!r.response) {
      if (!conv.empty()) {
        while (!conv.empty() && conv.back().role != "user") conv.pop_back();
        if (!conv.empty()) r.inputs.push_back(conv);
      }
      if (r.inputs.empty())
        for (auto& t : texts) r.inputs.push_back(guard::prompt_conversation(std::move(t)));
    } else {
      std::string prompt;
      for (auto it = conv.rbegin(); it != conv.rend(); ++it)
        if (it->role == "user") { prompt = it->content; break; }
      for (auto& t : texts) r.inputs.push_back(guard::response_conversation(prompt, std::move(t)));
    }
    if (r.inputs.empty()) reject("nothing to judge: give 'texts' or 'structured_messages'", "texts");
    return r;
  } catch (const wire::Reject& e) {
    return e.error;
  }
}

}  // namespace qg::server
