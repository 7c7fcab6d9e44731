// Recursive-descent Jinja parser, statement half (see parser.h, parser_impl.h).
#include "chat/jinja/parser.h"

#include "chat/jinja/parser_impl.h"

namespace qg::chat::jinja {

// Parses until a block whose first name is in `ends` (left unconsumed: cur() is that name).
Body Parser::subparse(std::initializer_list<std::string_view> ends) {
  Body body;
  while (true) {
    const Token& t = cur();
    if (t.type == Tok::kEof) {
      if (ends.size()) {
        std::string names;
        for (auto e : ends) names += (names.empty() ? "'" : " or '") + std::string(e) + "'";
        fail(src_.where(t.pos), ": unexpected end of template, expected ", names);
      }
      return body;
    }
    if (t.type == Tok::kData) {
      auto s = stmt(StmtKind::kData, t.pos);
      s->text = t.text;
      body.push_back(std::move(s));
      ++i_;
    } else if (t.type == Tok::kVarBegin) {
      ++i_;
      auto s = stmt(StmtKind::kOutput, cur().pos);
      s->expr = parse_tuple(true);
      if (cur().type != Tok::kVarEnd) error(cur(), "expected end of print statement");
      ++i_;
      body.push_back(std::move(s));
    } else if (t.type == Tok::kBlockBegin) {
      ++i_;
      if (cur().type == Tok::kName)
        for (auto e : ends)
          if (cur().text == e) return body;
      body.push_back(parse_statement());
    } else {
      error(t, "unexpected token");
    }
  }
}

StmtPtr Parser::parse_statement() {
  Nest nest(*this);
  deeper();
  const Token& t = cur();
  if (t.type != Tok::kName) error(t, "tag name expected");
  const std::string& n = t.text;
  if (n == "if") return parse_if();
  if (n == "for") return parse_for();
  if (n == "set") return parse_set();
  if (n == "macro") return parse_macro();
  if (n == "break" || n == "continue") {
    auto s = stmt(n == "break" ? StmtKind::kBreak : StmtKind::kContinue, t.pos);
    ++i_;
    expect_block_end();
    return s;
  }
  if (n == "generation" || n == "with") return parse_scope(n);
  if (n == "filter") return parse_filter_block();
  error(t, "unknown or unsupported tag '" + n + "'");
}

void Parser::end_tag(std::string_view name) {
  // cur() is the end name (left there by subparse)
  ++i_;
  (void)name;
  expect_block_end();
}

StmtPtr Parser::parse_if() {
  Nest nest(*this);
  deeper();  // an elif chain nests one level per elif
  auto s = stmt(StmtKind::kIf, next().pos);
  s->expr = parse_tuple(false);
  expect_block_end();
  s->body = subparse({"elif", "else", "endif"});
  if (is_name("elif")) {
    s->else_body.push_back(parse_if());  // an elif is an if nested in else; it consumes endif
    return s;
  }
  if (skip_name("else")) {
    expect_block_end();
    s->else_body = subparse({"endif"});
  }
  end_tag("endif");
  return s;
}

StmtPtr Parser::parse_for() {
  auto s = stmt(StmtKind::kFor, next().pos);
  s->targets = parse_targets();
  if (!skip_name("in")) error(cur(), "expected 'in'");
  s->expr = parse_tuple(false, "recursive");
  if (skip_name("if")) s->cond = parse_expression(true);
  if (skip_name("recursive")) s->recursive = true;
  expect_block_end();
  s->body = subparse({"endfor", "else"});
  if (skip_name("else")) {
    expect_block_end();
    s->else_body = subparse({"endfor"});
  }
  end_tag("endfor");
  return s;
}

std::vector<std::string> Parser::parse_targets() {
  std::vector<std::string> names;
  const bool paren = skip_op("(");
  do {
    if (cur().type != Tok::kName) break;
    names.push_back(next().text);
  } while (skip_op(","));
  if (paren) expect_op(")");
  if (names.empty()) error(cur(), "expected an assignment target");
  return names;
}

StmtPtr Parser::parse_set() {
  const uint32_t pos = next().pos;
  if (cur().type == Tok::kName && peek().type == Tok::kOp && peek().text == ".") {
    auto s = stmt(StmtKind::kSet, pos);
    s->targets.push_back(next().text);
    ++i_;
    s->attr = expect_name();
    expect_op("=");
    s->expr = parse_tuple(true);
    expect_block_end();
    return s;
  }
  std::vector<std::string> targets = parse_targets();
  if (skip_op("=")) {
    auto s = stmt(StmtKind::kSet, pos);
    s->targets = std::move(targets);
    s->expr = parse_tuple(true);
    expect_block_end();
    return s;
  }
  auto s = stmt(StmtKind::kSetBlock, pos);
  s->targets = std::move(targets);
  if (is_op("|")) s->cond = parse_filters(body_ref(cur().pos));  // applied to the body
  expect_block_end();
  s->body = subparse({"endset"});
  end_tag("endset");
  return s;
}

StmtPtr Parser::parse_macro() {
  auto s = stmt(StmtKind::kMacro, next().pos);
  s->name = expect_name();
  expect_op("(");
  while (!is_op(")")) {
    if (!s->params.empty()) expect_op(",");
    std::string p = expect_name();
    ExprPtr def;
    if (skip_op("=")) def = parse_expression(true);
    s->params.emplace_back(std::move(p), std::move(def));
  }
  ++i_;
  expect_block_end();
  s->body = subparse({"endmacro"});
  end_tag("endmacro");
  return s;
}

StmtPtr Parser::parse_scope(const std::string& n) {
  auto s = stmt(StmtKind::kScope, next().pos);
  s->new_scope = n == "with";
  while (n == "with" && cur().type == Tok::kName) {
    std::string target = next().text;
    expect_op("=");
    s->params.emplace_back(std::move(target), parse_expression(true));
    if (!skip_op(",")) break;
  }
  expect_block_end();
  s->body = n == "with" ? subparse({"endwith"}) : subparse({"endgeneration"});
  end_tag(n);
  return s;
}

StmtPtr Parser::parse_filter_block() {
  auto s = stmt(StmtKind::kFilterBlock, next().pos);
  // `{% filter upper %}`: the filter chain without the leading '|'.
  s->cond = parse_filter_chain(body_ref(cur().pos), false);
  expect_block_end();
  s->body = subparse({"endfilter"});
  end_tag("endfilter");
  return s;
}


Body parse(const Source& src, const std::vector<Token>& tokens) { return Parser(src, tokens).parse_all(); }

}  // namespace qg::chat::jinja
