// Jinja lexer: template source -> tokens, with jinja2's whitespace rules as transformers
// configures them (trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
// and `{%-`/`-%}`/`{%+`/`+%}` control. It mirrors jinja2.lexer.Lexer.tokeniter so that
// the text between tags is cut exactly where jinja2 cuts it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qg::chat::jinja {

enum class Tok : uint8_t {
  kData,        // literal template text
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,
  kString,  // text holds the unescaped value
  kInt,
  kFloat,
  kOp,  // text holds the operator: "(", "==", "|", ...
  kEof,
};

struct Token {
  Tok type;
  std::string text;
  uint32_t pos;  // byte offset in the normalised source (for line:column)
};

struct Source {
  std::string name;  // for messages: "<template name>:<line>:<col>: ..."
  std::string text;  // newlines normalised to \n, one trailing newline removed
  std::vector<uint32_t> line_starts;
  void locate(uint32_t pos, int& line, int& col) const;
  std::string where(uint32_t pos) const;  // "name:line:col"
};

// Normalises `text` as jinja2 does and builds the line table.
Source make_source(std::string text, std::string name);
// Throws qg::Error "<name>:<line>:<col>: ..." on an unterminated tag or string.
std::vector<Token> tokenize(const Source& src);

}  // namespace qg::chat::jinja
