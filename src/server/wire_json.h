// Helpers shared by the request parsers (request.cpp, request_moderation.cpp):
// the body checks every route applies before reading fields, and typed field
// readers that turn a wrong type or range into an ApiError naming the JSON path.
// Internal to server/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "guard/inputs.h"
#include "server/api_error.h"
#include "server/request.h"

namespace qg::server::wire {

using nlohmann::json;

// Thrown inside the parsers, caught at their boundary and returned as the variant.
struct Reject {
  ApiError error;
};
[[noreturn]] void reject(std::string message, std::string param, std::optional<std::string> code = std::nullopt);

// Content-Type, size, depth, syntax, top-level object. Throws Reject.
json parse_body(std::string_view content_type, std::string_view body, const Limits& lim);

// Field readers: absent or null -> nullopt; wrong type/range -> Reject naming `path`.
std::optional<std::string> opt_string(const json& obj, const char* key, const std::string& path);
std::optional<bool> opt_bool(const json& obj, const char* key, const std::string& path);
std::optional<int64_t> opt_int(const json& obj, const char* key, const std::string& path, int64_t lo, int64_t hi);
std::optional<double> opt_number(const json& obj, const char* key, const std::string& path, double lo, double hi);

// Message content: a string, or an array of {"type": "text", "text": ...} parts
// (joined with "\n", as vLLM joins text parts). Other part types are rejected.
std::string content_text(const json& content, const std::string& path, const Limits& lim);
// A chat messages array: roles system|developer|user|assistant (developer is read as
// system), non-empty, at most lim.max_messages, the last one user or assistant.
guard::Conversation messages(const json& arr, const std::string& path, const Limits& lim);

}  // namespace qg::server::wire
