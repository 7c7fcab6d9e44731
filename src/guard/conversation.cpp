// Input-record JSON parsing (see conversation.h). nlohmann-json stays inside this
// file and result_json.cpp.
#include "guard/conversation.h"

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace qg::guard {
namespace {

using nlohmann::json;

std::string string_field(const json& obj, const char* key, std::string_view where) {
  const auto it = obj.find(key);
  if (it == obj.end()) fail(where, ": missing field \"", key, "\"");
  if (!it->is_string()) fail(where, ": field \"", key, "\" must be a string, got ", it->type_name());
  return it->get<std::string>();
}

Conversation messages_from(const json& list, std::string_view where) {
  if (!list.is_array()) fail(where, ": \"messages\" must be a list, got ", list.type_name());
  if (list.empty()) fail(where, ": \"messages\" is empty");
  Conversation conv;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string at = cat(where, ": messages[", i, "]");
    if (!list[i].is_object()) fail(at, " must be an object with role and content");
    Message m{string_field(list[i], "role", at), string_field(list[i], "content", at)};
    if (m.role != "user" && m.role != "assistant" && m.role != "system")
      fail(at, ": role \"", m.role, "\" is not one of system, user, assistant");
    conv.push_back(std::move(m));
  }
  return conv;
}

json parse_json(std::string_view text, std::string_view where) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    fail(where, ": invalid JSON at byte ", e.byte, ": ", e.what());
  }
}

InputRecord record_from(const json& j, std::string_view where) {
  if (!j.is_object()) fail(where, ": expected a JSON object, got ", j.type_name());
  InputRecord rec;
  if (auto id = j.find("id"); id != j.end()) rec.id_json = id->dump();
  if (j.contains("messages")) {
    if (j.contains("prompt") || j.contains("response"))
      fail(where, ": give either \"messages\" or \"prompt\"/\"response\", not both");
    rec.conversation = messages_from(j["messages"], where);
  } else if (j.contains("prompt")) {
    std::string prompt = string_field(j, "prompt", where);
    rec.conversation = j.contains("response")
                           ? response_conversation(std::move(prompt), string_field(j, "response", where))
                           : prompt_conversation(std::move(prompt));
  } else {
    fail(where, ": expected a \"prompt\" or a \"messages\" field");
  }
  return rec;
}

}  // namespace

Conversation prompt_conversation(std::string prompt) { return {{"user", std::move(prompt)}}; }

Conversation response_conversation(std::string prompt, std::string response) {
  return {{"user", std::move(prompt)}, {"assistant", std::move(response)}};
}

InputRecord parse_input_record(std::string_view json_text, std::string_view where) {
  return record_from(parse_json(json_text, where), where);
}

Conversation parse_messages_file(std::string_view json_text, std::string_view where) {
  const json j = parse_json(json_text, where);
  if (j.is_array()) return messages_from(j, where);
  return record_from(j, where).conversation;
}

}  // namespace qg::guard
