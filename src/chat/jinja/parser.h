// Jinja parser: tokens -> syntax tree. Operator precedence, filter/test binding and
// the statement grammar follow jinja2.parser.Parser, so an expression groups exactly
// as jinja2 groups it (e.g. `-x|abs` is `abs(-x)`, `not a is b` is `not (a is b)`).
#pragma once

#include <vector>

#include "chat/jinja/ast.h"
#include "chat/jinja/lexer.h"

namespace qg::chat::jinja {

// Throws qg::Error "<name>:<line>:<col>: ..." on a syntax error.
Body parse(const Source& src, const std::vector<Token>& tokens);

}  // namespace qg::chat::jinja
