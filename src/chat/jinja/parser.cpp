// Recursive-descent Jinja parser (see parser.h). Each parse_* function is named after
// the jinja2.parser method it mirrors.
#include "chat/jinja/parser.h"

#include <cstdlib>
#include <initializer_list>
#include <string_view>

#include "base/error.h"

namespace qg::chat::jinja {
namespace {

class Parser {
 public:
  Parser(const Source& src, const std::vector<Token>& toks) : src_(src), toks_(toks) {}

  Body parse_all() {
    Body body = subparse({});
    if (cur().type != Tok::kEof) error(cur(), "unexpected token");
    return body;
  }

 private:
  const Token& cur() const { return toks_[i_]; }
  const Token& peek(size_t k = 1) const { return toks_[std::min(i_ + k, toks_.size() - 1)]; }
  const Token& next() { return toks_[i_ < toks_.size() - 1 ? i_++ : i_]; }

  [[noreturn]] void error(const Token& t, std::string_view msg) const {
    std::string what;
    switch (t.type) {
      case Tok::kEof: what = "end of template"; break;
      case Tok::kBlockEnd: what = "end of statement block"; break;
      case Tok::kVarEnd: what = "end of print statement"; break;
      case Tok::kData: what = "template data"; break;
      default: what = "'" + t.text + "'";
    }
    fail(src_.where(t.pos), ": ", msg, " (got ", what, ")");
  }

  bool is_op(std::string_view op) const { return cur().type == Tok::kOp && cur().text == op; }
  bool is_name(std::string_view n) const { return cur().type == Tok::kName && cur().text == n; }
  bool skip_op(std::string_view op) {
    if (!is_op(op)) return false;
    ++i_;
    return true;
  }
  bool skip_name(std::string_view n) {
    if (!is_name(n)) return false;
    ++i_;
    return true;
  }
  void expect_op(std::string_view op) {
    if (!skip_op(op)) error(cur(), "expected '" + std::string(op) + "'");
  }
  std::string expect_name() {
    if (cur().type != Tok::kName) error(cur(), "expected a name");
    return next().text;
  }
  void expect_block_end() {
    if (cur().type != Tok::kBlockEnd) error(cur(), "expected end of statement block");
    ++i_;
  }

  static ExprPtr node(ExprKind k, uint32_t pos) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->pos = pos;
    return e;
  }
  static StmtPtr stmt(StmtKind k, uint32_t pos) {
    auto s = std::make_unique<Stmt>();
    s->kind = k;
    s->pos = pos;
    return s;
  }

  // The rendered body of {% set x | f %} / {% filter f %}: the interpreter binds it to
  // this name (which no template can spell) before applying the filter chain.
  static ExprPtr body_ref(uint32_t pos) {
    auto e = node(ExprKind::kName, pos);
    e->name = "\x01body";
    return e;
  }

  // ---- statements ----

  // Parses until a block whose first name is in `ends` (left unconsumed: cur() is that name).
  Body subparse(std::initializer_list<std::string_view> ends) {
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

  StmtPtr parse_statement() {
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

  void end_tag(std::string_view name) {
    // cur() is the end name (left there by subparse)
    ++i_;
    (void)name;
    expect_block_end();
  }

  StmtPtr parse_if() {
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

  StmtPtr parse_for() {
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

  std::vector<std::string> parse_targets() {
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

  StmtPtr parse_set() {
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

  StmtPtr parse_macro() {
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

  StmtPtr parse_scope(const std::string& n) {
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

  StmtPtr parse_filter_block() {
    auto s = stmt(StmtKind::kFilterBlock, next().pos);
    // `{% filter upper %}`: the filter chain without the leading '|'.
    s->cond = parse_filter_chain(body_ref(cur().pos), false);
    expect_block_end();
    s->body = subparse({"endfilter"});
    end_tag("endfilter");
    return s;
  }

  // ---- expressions ----

  // parse_tuple: expr [, expr]* ; a trailing comma or several items make a tuple.
  ExprPtr parse_tuple(bool with_condexpr, std::string_view extra_end = {}) {
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

  bool tuple_ends(std::string_view extra_end) const {
    const Token& t = cur();
    if (t.type == Tok::kVarEnd || t.type == Tok::kBlockEnd || t.type == Tok::kEof) return true;
    if (t.type == Tok::kOp && (t.text == ")" || t.text == "]" || t.text == "}")) return true;
    return !extra_end.empty() && t.type == Tok::kName && t.text == extra_end;
  }

  ExprPtr parse_expression(bool with_condexpr) { return with_condexpr ? parse_condexpr() : parse_or(); }

  ExprPtr parse_condexpr() {
    ExprPtr e = parse_or();
    while (is_name("if")) {
      auto c = node(ExprKind::kCond, next().pos);
      c->a = parse_or();
      c->b = std::move(e);
      if (skip_name("else")) c->c = parse_condexpr();
      e = std::move(c);
    }
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      auto n = node(ExprKind::kOr, next().pos);
      n->a = std::move(e);
      n->b = parse_and();
      e = std::move(n);
    }
    return e;
  }

  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      auto n = node(ExprKind::kAnd, next().pos);
      n->a = std::move(e);
      n->b = parse_not();
      e = std::move(n);
    }
    return e;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      auto n = node(ExprKind::kNot, next().pos);
      n->a = parse_not();
      return n;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
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

  ExprPtr binary(std::string op, ExprPtr a, ExprPtr b, uint32_t pos) {
    auto n = node(ExprKind::kBinary, pos);
    n->name = std::move(op);
    n->a = std::move(a);
    n->b = std::move(b);
    return n;
  }

  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& t = next();
      e = binary(t.text, std::move(e), parse_concat(), t.pos);
    }
    return e;
  }

  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (is_op("~")) {
      const Token& t = next();
      e = binary("~", std::move(e), parse_math2(), t.pos);
    }
    return e;
  }

  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& t = next();
      e = binary(t.text, std::move(e), parse_pow(), t.pos);
    }
    return e;
  }

  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (is_op("**")) {
      const Token& t = next();
      e = binary("**", std::move(e), parse_unary(true), t.pos);
    }
    return e;
  }

  ExprPtr parse_unary(bool with_filter) {
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

  ExprPtr parse_primary() {
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
        e->value = Value::integer(std::strtoll(x.c_str(), nullptr, 10));
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

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
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

  ExprPtr parse_subscript(ExprPtr target, uint32_t pos) {
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

  void parse_call_args(Expr& e) {
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

  ExprPtr parse_call(ExprPtr fn) {
    auto c = node(ExprKind::kCall, fn->pos);  // errors point at the callee, not at '('
    c->a = std::move(fn);
    parse_call_args(*c);
    return c;
  }

  std::string dotted_name() {
    std::string n = expect_name();
    while (is_op(".")) {
      ++i_;
      n += "." + expect_name();
    }
    return n;
  }

  ExprPtr parse_filter_chain(ExprPtr e, bool need_pipe) {
    while (!need_pipe || is_op("|")) {
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

  ExprPtr parse_filters(ExprPtr e) { return parse_filter_chain(std::move(e), true); }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
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

  const Source& src_;
  const std::vector<Token>& toks_;
  size_t i_ = 0;
};

}  // namespace

Body parse(const Source& src, const std::vector<Token>& tokens) { return Parser(src, tokens).parse_all(); }

}  // namespace qg::chat::jinja
