// The OpenAI error envelope as a native value: what a route answers when a request
// cannot be served. Rendered as {"error": {"message", "type", "param", "code"}}
// (the shape the openai clients parse) with the HTTP status beside it.
#pragma once

#include <optional>
#include <string>

namespace qg::server {

struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";  // invalid_request_error | authentication_error | ...
  std::optional<std::string> param;            // the JSON path at fault ("messages[2].role")
  std::optional<std::string> code;             // machine-readable ("model_not_found", ...)
};

inline ApiError bad_request(std::string message, std::optional<std::string> param = std::nullopt,
                            std::optional<std::string> code = std::nullopt) {
  return ApiError{400, std::move(message), "invalid_request_error", std::move(param), std::move(code)};
}

// {"error": {...}} as JSON text.
std::string error_body(const ApiError& e);

}  // namespace qg::server
