// A conversation to moderate and the JSON shapes it arrives in (the CLI's
// --messages file and --input JSONL lines). guard/ owns these input formats, so
// their parsing lives here; the chat template sees plain role/content pairs.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qg::guard {

struct Message {
  std::string role;  // "system" | "user" | "assistant"
  std::string content;
};
using Conversation = std::vector<Message>;

Conversation prompt_conversation(std::string prompt);
Conversation response_conversation(std::string prompt, std::string response);

// One input record: the conversation and, when the record had one, its "id" echoed
// back verbatim in the result (as JSON text).
struct InputRecord {
  Conversation conversation;
  std::optional<std::string> id_json;
};

// Parses one JSON object: {"prompt": P}, {"prompt": P, "response": R} or
// {"messages": [{"role": ..., "content": ...}, ...]}, each with an optional "id".
// `where` prefixes error messages ("in.jsonl:12"). Throws qg::Error naming the
// field at fault.
InputRecord parse_input_record(std::string_view json_text, std::string_view where);

// A --messages file: either a JSON list of messages or one input record object.
Conversation parse_messages_file(std::string_view json_text, std::string_view where);

}  // namespace qg::guard
