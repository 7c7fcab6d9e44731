// Recursive-descent Jinja parser, expression half: jinja2's precedence climbing from
// parse_tuple down to parse_primary, plus filters, tests, calls and subscripts.
#include <cerrno>
#include <cstdlib>

#include "chat/jinja/parser_impl.h"

namespace qg::chat::jinja {

// parse_tuple: expr [, expr]* ; a trailing comma or several items make a tuple.
ExprPtr Parser::parse_tuple(bool with_condexpr, std::string_view extra_end) {
  const uint32_t pos = cur().pos;
  std::vector<ExprPtr> items;
  bool is_tuple = false;
  while (true) {
    if (!items.empty()) {
      if (!skip_op(",")) break;
      is_tuple = true;
    }
    if (tuple_ends(extra_end)) break;
    items.push_back(parse_expression(with_condexpr));
    if (!is_op(",")) break;
  }
  if (!is_tuple && items.size() == 1) return std::move(items[0]);
  if (items.empty() && !is_tuple) error(cur(), "expected an expression");
  auto t = node(ExprKind::kTuple, pos);
  t->items = std::move(items);
  return t;
}

bool Parser::tuple_ends(std::string_view extra_end) const {
  const Token& t = cur();
  if (t.type == Tok::kVarEnd || t.type == Tok::kBlockEnd || t.type == Tok::kEof) return true;
  if (t.type == Tok::kOp && (t.text == ")" || t.text == "]" || t.text == "}")) return true;
  return !extra_end.empty() && t.type == Tok::kName && t.text == extra_end;
}

ExprPtr Parser::parse_condexpr() {
  Nest nest(*this);
  ExprPtr e = parse_or();
  while (is_name("if")) {
    deeper();
    auto c = node(ExprKind::kCond, next().pos);
    c->a = parse_or();
    c->b = std::move(e);
    if (skip_name("else")) c->c = parse_condexpr();
    e = std::move(c);
  }
  return e;
}

ExprPtr Parser::parse_or() {
  Nest nest(*this);
  ExprPtr e = parse_and();
  while (is_name("or")) {
    deeper();
    auto n = node(ExprKind::kOr, next().pos);
    n->a = std::move(e);
    n->b = parse_and();
    e = std::move(n);
  }
  return e;
}

ExprPtr Parser::parse_and() {
  Nest nest(*this);
  ExprPtr e = parse_not();
  while (is_name("and")) {
    deeper();
    auto n = node(ExprKind::kAnd, next().pos);
    n->a = std::move(e);
    n->b = parse_not();
    e = std::move(n);
  }
  return e;
}

ExprPtr Parser::parse_not() {
  Nest nest(*this);
  if (is_name("not")) {
    deeper();
    auto n = node(ExprKind::kNot, next().pos);
    n->a = parse_not();
    return n;
  }
  return parse_compare();
}

ExprPtr Parser::parse_compare() {
  const uint32_t pos = cur().pos;
  ExprPtr e = parse_math1();
  std::vector<std::string> ops;
  std::vector<ExprPtr> rhs;
  while (true) {
    const Token& t = cur();
    if (t.type == Tok::kOp && (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == ">" ||
                               t.text == "<=" || t.text == ">=")) {
      ops.push_back(next().text);
    } else if (is_name("in")) {
      ++i_;
      ops.push_back("in");
    } else if (is_name("not") && peek().type == Tok::kName && peek().text == "in") {
      i_ += 2;
      ops.push_back("notin");
    } else {
      break;
    }
    rhs.push_back(parse_math1());
  }
  if (ops.empty()) return e;
  auto c = node(ExprKind::kCompare, pos);
  c->a = std::move(e);
  c->ops = std::move(ops);
  c->items = std::move(rhs);
  return c;
}

ExprPtr Parser::binary(std::string op, ExprPtr a, ExprPtr b, uint32_t pos) {
  auto n = node(ExprKind::kBinary, pos);
  n->name = std::move(op);
  n->a = std::move(a);
  n->b = std::move(b);
  return n;
}

ExprPtr Parser::parse_math1() {
  Nest nest(*this);
  ExprPtr e = parse_concat();
  while (is_op("+") || is_op("-")) {
    deeper();
    const Token& t = next();
    e = binary(t.text, std::move(e), parse_concat(), t.pos);
  }
  return e;
}

ExprPtr Parser::parse_concat() {
  Nest nest(*this);
  ExprPtr e = parse_math2();
  while (is_op("~")) {
    deeper();
    const Token& t = next();
    e = binary("~", std::move(e), parse_math2(), t.pos);
  }
  return e;
}

ExprPtr Parser::parse_math2() {
  Nest nest(*this);
  ExprPtr e = parse_pow();
  while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
    deeper();
    const Token& t = next();
    e = binary(t.text, std::move(e), parse_pow(), t.pos);
  }
  return e;
}

ExprPtr Parser::parse_pow() {
  Nest nest(*this);
  ExprPtr e = parse_unary(true);
  while (is_op("**")) {
    deeper();
    const Token& t = next();
    e = binary("**", std::move(e), parse_unary(true), t.pos);
  }
  return e;
}

ExprPtr Parser::parse_unary(bool with_filter) {
  Nest nest(*this);
  deeper();
  ExprPtr e;
  if (is_op("-") || is_op("+")) {
    const Token& t = next();
    e = node(t.text == "-" ? ExprKind::kNeg : ExprKind::kPos, t.pos);
    e->a = parse_unary(false);
  } else {
    e = parse_primary();
  }
  e = parse_postfix(std::move(e));
  if (with_filter) e = parse_filter_expr(std::move(e));
  return e;
}

ExprPtr Parser::parse_primary() {
  const Token& t = cur();
  switch (t.type) {
    case Tok::kName: {
      ++i_;
      auto e = node(ExprKind::kLiteral, t.pos);
      if (t.text == "true" || t.text == "True") e->value = Value::boolean(true);
      else if (t.text == "false" || t.text == "False") e->value = Value::boolean(false);
      else if (t.text == "none" || t.text == "None") e->value = Value::none();
      else {
        e->kind = ExprKind::kName;
        e->name = t.text;
      }
      return e;
    }
    case Tok::kString: {
      auto e = node(ExprKind::kLiteral, t.pos);
      std::string s;
      while (cur().type == Tok::kString) s += next().text;  // adjacent literals concatenate
      e->value = Value::string(std::move(s));
      return e;
    }
    case Tok::kInt: {
      ++i_;
      auto e = node(ExprKind::kLiteral, t.pos);
      const std::string& x = t.text;
      errno = 0;
      e->value = Value::integer(std::strtoll(x.c_str(), nullptr, 10));
      if (errno == ERANGE) error(t, "integer literal out of the 64-bit range");
      return e;
    }
    case Tok::kFloat: {
      ++i_;
      auto e = node(ExprKind::kLiteral, t.pos);
      e->value = Value::floating(std::strtod(t.text.c_str(), nullptr));
      return e;
    }
    case Tok::kOp:
      if (t.text == "(") {
        ++i_;
        if (skip_op(")")) {
          auto e = node(ExprKind::kTuple, t.pos);
          return e;
        }
        ExprPtr e = parse_tuple(true);
        expect_op(")");
        return e;
      }
      if (t.text == "[") {
        ++i_;
        auto e = node(ExprKind::kList, t.pos);
        while (!is_op("]")) {
          if (!e->items.empty()) expect_op(",");
          if (is_op("]")) break;
          e->items.push_back(parse_expression(true));
        }
        ++i_;
        return e;
      }
      if (t.text == "{") {
        ++i_;
        auto e = node(ExprKind::kDict, t.pos);
        while (!is_op("}")) {
          if (!e->items.empty()) expect_op(",");
          if (is_op("}")) break;
          e->items.push_back(parse_expression(true));
          expect_op(":");
          e->items.push_back(parse_expression(true));
        }
        ++i_;
        return e;
      }
      break;
    default: break;
  }
  error(t, "unexpected token in expression");
}

ExprPtr Parser::parse_postfix(ExprPtr e) {
  Nest nest(*this);
  while (true) {
    if (is_op(".") || is_op("[") || is_op("(")) deeper();
    if (is_op(".")) {
      const Token& dot = next();
      if (cur().type == Tok::kName) {
        auto g = node(ExprKind::kGetattr, dot.pos);
        g->a = std::move(e);
        g->name = next().text;
        e = std::move(g);
      } else if (cur().type == Tok::kInt) {
        auto g = node(ExprKind::kGetitem, dot.pos);
        g->a = std::move(e);
        g->b = node(ExprKind::kLiteral, cur().pos);
        g->b->value = Value::integer(std::strtoll(next().text.c_str(), nullptr, 10));
        e = std::move(g);
      } else {
        error(cur(), "expected a name after '.'");
      }
    } else if (is_op("[")) {
      const Token& br = next();
      e = parse_subscript(std::move(e), br.pos);
      expect_op("]");
    } else if (is_op("(")) {
      e = parse_call(std::move(e));
    } else {
      return e;
    }
  }
}

ExprPtr Parser::parse_subscript(ExprPtr target, uint32_t pos) {
  ExprPtr parts[3];
  int n = 0;
  bool is_slice = false;
  if (!is_op(":")) parts[0] = parse_expression(true);
  while (n < 2 && is_op(":")) {
    ++i_;
    is_slice = true;
    ++n;
    if (!is_op(":") && !is_op("]")) parts[n] = parse_expression(true);
  }
  if (!is_slice) {
    auto g = node(ExprKind::kGetitem, pos);
    g->a = std::move(target);
    g->b = std::move(parts[0]);
    return g;
  }
  auto s = node(ExprKind::kSlice, pos);
  s->a = std::move(target);
  s->b = std::move(parts[0]);
  s->c = std::move(parts[1]);
  s->d = std::move(parts[2]);
  return s;
}

void Parser::parse_call_args(Expr& e) {
  expect_op("(");
  bool first = true;
  while (!is_op(")")) {
    if (!first) {
      expect_op(",");
      if (is_op(")")) break;
    }
    first = false;
    if (skip_op("*")) {
      e.star_args = parse_expression(true);
    } else if (skip_op("**")) {
      e.star_kwargs = parse_expression(true);
    } else if (cur().type == Tok::kName && peek().type == Tok::kOp && peek().text == "=") {
      std::string k = next().text;
      ++i_;
      e.kwargs.emplace_back(std::move(k), parse_expression(true));
    } else {
      e.items.push_back(parse_expression(true));
    }
  }
  ++i_;
}

ExprPtr Parser::parse_call(ExprPtr fn) {
  auto c = node(ExprKind::kCall, fn->pos);  // errors point at the callee, not at '('
  c->a = std::move(fn);
  parse_call_args(*c);
  return c;
}

std::string Parser::dotted_name() {
  std::string n = expect_name();
  while (is_op(".")) {
    ++i_;
    n += '.';
    n += expect_name();
  }
  return n;
}

ExprPtr Parser::parse_filter_chain(ExprPtr e, bool need_pipe) {
  Nest nest(*this);
  while (!need_pipe || is_op("|")) {
    deeper();
    const uint32_t pos = need_pipe ? next().pos : cur().pos;
    need_pipe = true;
    auto f = node(ExprKind::kFilter, pos);
    f->a = std::move(e);
    f->name = dotted_name();
    if (is_op("(")) parse_call_args(*f);
    e = std::move(f);
  }
  return e;
}

ExprPtr Parser::parse_filter_expr(ExprPtr e) {
  Nest nest(*this);
  while (true) {
    if (is_op("|") || is_name("is") || is_op("(")) deeper();
    if (is_op("|")) {
      e = parse_filter_chain(std::move(e), true);
    } else if (is_name("is")) {
      auto t = node(ExprKind::kTest, next().pos);
      t->negate = skip_name("not");
      t->a = std::move(e);
      t->name = dotted_name();
      const Token& c = cur();
      if (is_op("(")) {
        parse_call_args(*t);
      } else if ((c.type == Tok::kName || c.type == Tok::kString || c.type == Tok::kInt || c.type == Tok::kFloat ||
                  (c.type == Tok::kOp && (c.text == "[" || c.text == "{"))) &&
                 !is_name("else") && !is_name("or") && !is_name("and")) {
        if (is_name("is")) error(c, "You cannot chain multiple tests with is");
        t->items.push_back(parse_postfix(parse_primary()));
      }
      e = std::move(t);
    } else if (is_op("(")) {
      e = parse_call(std::move(e));
    } else {
      return e;
    }
  }
}


}  // namespace qg::chat::jinja
