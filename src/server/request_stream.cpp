// parse_stream_open_request / parse_stream_append_request (request.h): the bodies of
// the Qwen3Guard-Stream session routes (docs/server.md "Stream sessions").
#include <limits>

#include "base/error.h"
#include "server/request.h"
#include "server/wire_json.h"

namespace qg::server {

using wire::json;
using wire::reject;

Parsed<StreamOpenRequest> parse_stream_open_request(std::string_view content_type, std::string_view body,
                                                    const Limits& lim) {
  try {
    const json j = wire::parse_body(content_type, body, lim);
    StreamOpenRequest r;
    r.model = wire::opt_string(j, "model", "");
    const auto msgs = j.find("messages");
    const auto prompt = wire::opt_string(j, "prompt", "");
    const bool has_msgs = msgs != j.end() && !msgs->is_null();
    if (has_msgs && prompt) reject("give 'messages' or 'prompt', not both", "prompt");
    if (has_msgs) {
      r.messages = wire::messages(*msgs, "messages", lim);
      if (r.messages.back().role != "user")
        reject("a Stream session opens on a conversation that ends with a user message (the response is appended)",
               cat("messages[", r.messages.size() - 1, "].role"));
    } else if (prompt) {
      r.messages = guard::prompt_conversation(*prompt);
    } else {
      reject("'messages' (ending with a user message) or 'prompt' is required", "messages");
    }
    return r;
  } catch (const wire::Reject& e) {
    return e.error;
  }
}

Parsed<StreamAppendRequest> parse_stream_append_request(std::string_view content_type, std::string_view body,
                                                        const Limits& lim) {
  try {
    const json j = wire::parse_body(content_type, body, lim);
    StreamAppendRequest r;
    r.text = wire::opt_string(j, "text", "");
    r.final = wire::opt_bool(j, "final", "").value_or(false);
    r.stream = wire::opt_bool(j, "stream", "").value_or(false);
    if (r.text && r.text->size() > lim.max_stream_text_bytes)
      reject(cat("'text' is longer than ", lim.max_stream_text_bytes, " bytes"), "text");
    if (const auto ids = j.find("token_ids"); ids != j.end() && !ids->is_null()) {
      if (r.text) reject("give 'text' or 'token_ids', not both", "token_ids");
      if (!ids->is_array()) reject("'token_ids' must be an array of integers", "token_ids");
      if (ids->size() > lim.max_stream_ids)
        reject(cat("'token_ids' has ", ids->size(), " ids; the limit is ", lim.max_stream_ids), "token_ids");
      r.has_ids = true;
      r.token_ids.reserve(ids->size());
      for (size_t i = 0; i < ids->size(); ++i) {
        const json& v = (*ids)[i];
        if (!v.is_number_integer()) reject(cat("'token_ids[", i, "]' must be an integer"), cat("token_ids[", i, "]"));
        // Read as the widest type first: a huge value must not wrap into a valid id.
        const bool neg = v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() < 0;
        if (neg || (v.is_number_unsigned() ? v.get<uint64_t>() > uint64_t(std::numeric_limits<int32_t>::max())
                                           : v.get<int64_t>() > std::numeric_limits<int32_t>::max()))
          reject(cat("'token_ids[", i, "]' is out of range"), cat("token_ids[", i, "]"));
        r.token_ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
      }
    }
    if (!r.text && !r.has_ids && !r.final) reject("'text' or 'token_ids' is required (or 'final': true)", "text");
    return r;
  } catch (const wire::Reject& e) {
    return e.error;
  }
}

}  // namespace qg::server
