// Server-sent events framing for streamed chat completions: each event is
// "data: <one line of JSON>\n\n", the stream ends with "data: [DONE]\n\n" (the
// OpenAI convention). JSON is rendered by the caller on one line, so no payload line
// ever needs splitting.
#pragma once

#include <string>
#include <string_view>

namespace qg::server::sse {

inline std::string event(std::string_view json_line) {
  std::string s;
  s.reserve(json_line.size() + 8);
  s += "data: ";
  s += json_line;
  s += "\n\n";
  return s;
}

inline constexpr std::string_view kDone = "data: [DONE]\n\n";

}  // namespace qg::server::sse
