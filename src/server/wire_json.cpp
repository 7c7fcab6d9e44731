// Body checks and typed field readers for the request parsers (wire_json.h).
#include "server/wire_json.h"

#include <cmath>

#include "base/error.h"

namespace qg::server {

std::string error_body(const ApiError& e) {
  nlohmann::ordered_json j;
  j["error"] = {{"message", e.message},
                {"type", e.type},
                {"param", e.param ? nlohmann::ordered_json(*e.param) : nlohmann::ordered_json(nullptr)},
                {"code", e.code ? nlohmann::ordered_json(*e.code) : nlohmann::ordered_json(nullptr)}};
  // Messages quote user input: never let invalid UTF-8 make the error itself throw.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

int json_depth(std::string_view text, int limit) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escape = false;
  for (char c : text) {
    if (in_string) {
      if (escape) escape = false;
      else if (c == '\\') escape = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) max_depth = depth;
      if (max_depth > limit) return max_depth;
    } else if (c == ']' || c == '}') {
      --depth;  // unbalanced input is the parser's to reject
    }
  }
  return max_depth;
}

namespace wire {

void reject(std::string message, std::string param, std::optional<std::string> code) {
  throw Reject{bad_request(std::move(message), param.empty() ? std::nullopt : std::optional(param),
                           std::move(code))};
}

json parse_body(std::string_view content_type, std::string_view body, const Limits& lim) {
  // "application/json" with optional parameters ("; charset=utf-8"), any case.
  std::string ct(content_type.substr(0, content_type.find(';')));
  while (!ct.empty() && (ct.back() == ' ' || ct.back() == '\t')) ct.pop_back();
  for (char& c : ct) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ct != "application/json")
    throw Reject{ApiError{415, cat("Content-Type must be application/json, got '", content_type.substr(0, 100), "'"),
                          "invalid_request_error", std::nullopt, std::string("unsupported_media_type")}};
  if (body.size() > lim.max_body_bytes)
    throw Reject{ApiError{413, cat("request body of ", body.size(), " bytes exceeds the limit of ",
                                   lim.max_body_bytes),
                          "invalid_request_error", std::nullopt, std::string("request_too_large")}};
  if (json_depth(body, lim.max_json_depth) > lim.max_json_depth)
    reject(cat("JSON nesting deeper than ", lim.max_json_depth, " levels"), "", "json_too_deep");
  json j;
  try {
    j = json::parse(body.begin(), body.end());
  } catch (const json::exception& e) {  // parse_error, and out_of_range for numbers like 1e400
    reject(cat("invalid JSON body: ", e.what()), "", "invalid_json");
  }
  if (!j.is_object()) reject("the request body must be a JSON object", "");
  return j;
}

namespace {
const json* field(const json& obj, const char* key) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}
std::string join(const std::string& path, const char* key) { return path.empty() ? key : path + "." + key; }
}  // namespace

std::optional<std::string> opt_string(const json& obj, const char* key, const std::string& path) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) reject(cat("'", join(path, key), "' must be a string"), join(path, key));
  return v->get<std::string>();
}

std::optional<bool> opt_bool(const json& obj, const char* key, const std::string& path) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) reject(cat("'", join(path, key), "' must be a boolean"), join(path, key));
  return v->get<bool>();
}

std::optional<int64_t> opt_int(const json& obj, const char* key, const std::string& path, int64_t lo, int64_t hi) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  int64_t x = 0;
  if (v->is_number_integer()) {
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      x = INT64_MAX;
    } else {
      x = v->get<int64_t>();
    }
  } else if (v->is_number_float() && std::isfinite(v->get<double>()) && v->get<double>() == std::floor(v->get<double>()) &&
             std::fabs(v->get<double>()) < 9e15) {
    x = static_cast<int64_t>(v->get<double>());  // 4.0 is an integer in JSON Schema
  } else {
    reject(cat("'", join(path, key), "' must be an integer"), join(path, key));
  }
  if (x < lo || x > hi) reject(cat("'", join(path, key), "' is ", x, "; expected ", lo, "..", hi), join(path, key));
  return x;
}

std::optional<double> opt_number(const json& obj, const char* key, const std::string& path, double lo, double hi) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) reject(cat("'", join(path, key), "' must be a number"), join(path, key));
  const double x = v->get<double>();
  if (!(x >= lo && x <= hi)) reject(cat("'", join(path, key), "' is ", x, "; expected ", lo, "..", hi), join(path, key));
  return x;
}

std::string content_text(const json& content, const std::string& path, const Limits& lim) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) reject(cat("'", path, "' must be a string or an array of text parts"), path);
  if (content.size() > lim.max_messages) reject(cat("'", path, "' has more than ", lim.max_messages, " parts"), path);
  std::string out;
  for (size_t i = 0; i < content.size(); ++i) {
    const std::string p = cat(path, "[", i, "]");
    const json& part = content[i];
    if (!part.is_object()) reject(cat("'", p, "' must be an object"), p);
    const auto type = opt_string(part, "type", p);
    if (!type) reject(cat("'", p, ".type' is required"), p + ".type");
    if (*type != "text")
      reject(cat("'", p, ".type' is '", *type, "': only text parts are supported (Qwen3Guard-Gen reads text)"),
             p + ".type", "unsupported_content_type");
    const auto text = opt_string(part, "text", p);
    if (!text) reject(cat("'", p, ".text' is required"), p + ".text");
    if (i) out += "\n";
    out += *text;
  }
  return out;
}

guard::Conversation messages(const json& arr, const std::string& path, const Limits& lim) {
  if (!arr.is_array()) reject(cat("'", path, "' must be an array of messages"), path);
  if (arr.empty()) reject(cat("'", path, "' must not be empty"), path);
  if (arr.size() > lim.max_messages)
    reject(cat("'", path, "' has ", arr.size(), " messages; the limit is ", lim.max_messages), path);
  guard::Conversation conv;
  for (size_t i = 0; i < arr.size(); ++i) {
    const std::string p = cat(path, "[", i, "]");
    const json& m = arr[i];
    if (!m.is_object()) reject(cat("'", p, "' must be an object with role and content"), p);
    auto role = opt_string(m, "role", p);
    if (!role) reject(cat("'", p, ".role' is required"), p + ".role");
    if (*role == "developer") role = "system";
    if (*role != "system" && *role != "user" && *role != "assistant")
      reject(cat("'", p, ".role' is '", role->substr(0, 64), "'; expected system, developer, user or assistant"),
             p + ".role");
    const auto it = m.find("content");
    if (it == m.end() || it->is_null()) reject(cat("'", p, ".content' is required"), p + ".content");
    conv.push_back({*role, content_text(*it, p + ".content", lim)});
  }
  if (conv.back().role == "system")
    reject(cat("'", path, "' ends with a system message: nothing to judge (the last message must be user or assistant)"),
           path);
  return conv;
}

}  // namespace wire
}  // namespace qg::server
