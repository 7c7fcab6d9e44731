// parse_chat_request (request.h): the OpenAI chat completions schema, the fields the
// Qwen3Guard model card's client uses. Ranges are OpenAI's (temperature 0..2,
// top_logprobs 0..20, at most 4 stop strings) unless the server's Limits are tighter.
#include "server/request.h"

#include "base/error.h"
#include "server/wire_json.h"

namespace qg::server {

using wire::json;
using wire::reject;

Parsed<ChatRequest> parse_chat_request(std::string_view content_type, std::string_view body, const Limits& lim) {
  try {
    const json j = wire::parse_body(content_type, body, lim);
    ChatRequest r;
    r.model = wire::opt_string(j, "model", "");
    const auto msgs = j.find("messages");
    if (msgs == j.end() || msgs->is_null()) reject("'messages' is required", "messages");
    r.messages = wire::messages(*msgs, "messages", lim);

    const auto mt = wire::opt_int(j, "max_tokens", "", 1, lim.max_tokens);
    const auto mct = wire::opt_int(j, "max_completion_tokens", "", 1, lim.max_tokens);
    r.max_tokens = static_cast<int>(mct ? *mct : mt ? *mt : lim.default_max_tokens);
    r.temperature = wire::opt_number(j, "temperature", "", 0, 2);
    r.top_p = wire::opt_number(j, "top_p", "", 0, 1);
    if (r.top_p && *r.top_p <= 0) reject("'top_p' must be greater than 0", "top_p");
    if (const auto k = wire::opt_int(j, "top_k", "", -1, 1 << 20)) r.top_k = static_cast<int>(*k);
    if (const auto s = wire::opt_int(j, "seed", "", INT64_MIN, INT64_MAX)) r.seed = static_cast<uint64_t>(*s);
    r.n = static_cast<int>(wire::opt_int(j, "n", "", 1, lim.max_n).value_or(1));
    r.stream = wire::opt_bool(j, "stream", "").value_or(false);
    if (const auto so = j.find("stream_options"); so != j.end() && !so->is_null()) {
      if (!so->is_object()) reject("'stream_options' must be an object", "stream_options");
      if (!r.stream) reject("'stream_options' is only allowed with stream: true", "stream_options");
      r.include_usage = wire::opt_bool(*so, "include_usage", "stream_options").value_or(false);
    }
    r.logprobs = wire::opt_bool(j, "logprobs", "").value_or(false);
    r.top_logprobs = static_cast<int>(wire::opt_int(j, "top_logprobs", "", 0, lim.max_top_logprobs).value_or(0));
    if (r.top_logprobs > 0 && !r.logprobs) reject("'top_logprobs' needs 'logprobs': true", "top_logprobs");

    if (const auto st = j.find("stop"); st != j.end() && !st->is_null()) {
      if (st->is_string()) {
        r.stop.push_back(st->get<std::string>());
      } else if (st->is_array()) {
        if (st->size() > static_cast<size_t>(lim.max_stop))
          reject(cat("'stop' has ", st->size(), " strings; the limit is ", lim.max_stop), "stop");
        for (size_t i = 0; i < st->size(); ++i) {
          if (!(*st)[i].is_string()) reject(cat("'stop[", i, "]' must be a string"), cat("stop[", i, "]"));
          r.stop.push_back((*st)[i].get<std::string>());
        }
      } else {
        reject("'stop' must be a string or an array of strings", "stop");
      }
      for (size_t i = 0; i < r.stop.size(); ++i) {
        if (r.stop[i].empty()) reject(cat("'stop[", i, "]' is empty"), "stop");
        if (r.stop[i].size() > lim.max_stop_bytes)
          reject(cat("'stop[", i, "]' is longer than ", lim.max_stop_bytes, " bytes"), "stop");
      }
    }
    // Fields we cannot honour are refused rather than silently ignored.
    for (const char* key : {"tools", "functions", "response_format"}) {
      const auto it = j.find(key);
      if (it != j.end() && !it->is_null())
        reject(cat("'", key, "' is not supported by a Qwen3Guard-Gen server"), key, "unsupported_parameter");
    }
    for (const char* key : {"presence_penalty", "frequency_penalty"}) {
      if (const auto v = wire::opt_number(j, key, "", -2, 2); v && *v != 0)
        reject(cat("'", key, "' other than 0 is not supported"), key, "unsupported_parameter");
    }
    return r;
  } catch (const wire::Reject& e) {
    return e.error;
  }
}

}  // namespace qg::server
