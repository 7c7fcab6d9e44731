// Parsing of token-id lists given on the command line ("151644,872,198"), shared by
// the model-level subcommands (logits, generate).
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/error.h"

namespace qg::app {

// Comma- or space-separated decimal ids; throws qg::Error naming the bad item.
inline std::vector<int32_t> parse_id_list(const std::string& text) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ',' || text[i] == ' ')) ++i;
    if (i >= text.size()) break;
    size_t j = i;
    while (j < text.size() && text[j] != ',' && text[j] != ' ') ++j;
    const std::string item = text.substr(i, j - i);
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (end == item.c_str() || *end != '\0' || errno != 0 || v < 0 || v > INT32_MAX) {
      fail("--ids: \"", item, "\" (item ", ids.size() + 1, ") is not a token id");
    }
    ids.push_back(static_cast<int32_t>(v));
    i = j;
  }
  if (ids.empty()) fail("--ids: no token ids given");
  return ids;
}

}  // namespace qg::app
