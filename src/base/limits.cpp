// check_json_depth (see limits.h): a bracket counter that skips JSON strings. It does not
// validate the JSON (the real parser does that next); it only refuses nesting that the
// real parser, or what consumes its result, would recurse into too deeply.
#include "base/limits.h"

#include "base/error.h"

namespace qg::limits {

void check_json_depth(std::string_view text, const std::string& where, int max_depth) {
  int depth = 0;
  const size_t n = text.size();
  for (size_t i = 0; i < n; ++i) {
    const char c = text[i];
    if (c == '"') {
      for (++i; i < n && text[i] != '"'; ++i) {
        if (text[i] == '\\') ++i;
      }
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        fail(where, ": JSON nested deeper than ", max_depth, " levels (byte ", i,
             "); the limit protects the parser's stack");
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

}  // namespace qg::limits
