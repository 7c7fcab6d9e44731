// Private to the parser: the Parser class shared by parser.cpp (statements) and
// parse_expr.cpp (expressions). Each parse_* method mirrors the jinja2.parser method
// of the same name, so precedence and binding follow jinja2 exactly.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "chat/jinja/ast.h"
#include "chat/jinja/lexer.h"

namespace qg::chat::jinja {

// Nesting the parser accepts: parentheses, unary operators, operator/filter/postfix chains
// (each link nests the tree one level), and {% if %}/{% for %}/elif blocks. The parser,
// the interpreter and the tree's destructor recurse once per level, so this bounds their
// stack. Real chat templates nest under 20.
inline constexpr int kMaxNesting = 256;

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

  // Restores the nesting count on scope exit; deeper() counts one more level.
  struct Nest {
    explicit Nest(Parser& p) : p_(p), saved_(p.depth_) {}
    ~Nest() { p_.depth_ = saved_; }
    Parser& p_;
    int saved_;
  };
  void deeper() {
    if (++depth_ > kMaxNesting) {
      error(cur(), "expression or block nested deeper than " + std::to_string(kMaxNesting) +
                       " levels (the parser's nesting limit)");
    }
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

  // ---- statements (parser.cpp) ----
  Body subparse(std::initializer_list<std::string_view> ends);
  StmtPtr parse_statement();
  void end_tag(std::string_view name);
  StmtPtr parse_if();
  StmtPtr parse_for();
  std::vector<std::string> parse_targets();
  StmtPtr parse_set();
  StmtPtr parse_macro();
  StmtPtr parse_scope(const std::string& n);
  StmtPtr parse_filter_block();

  // ---- expressions (parse_expr.cpp) ----
  ExprPtr parse_tuple(bool with_condexpr, std::string_view extra_end = {});
  bool tuple_ends(std::string_view extra_end) const;
  ExprPtr parse_expression(bool with_condexpr) { return with_condexpr ? parse_condexpr() : parse_or(); }
  ExprPtr parse_condexpr();
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr binary(std::string op, ExprPtr a, ExprPtr b, uint32_t pos);
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter);
  ExprPtr parse_primary();
  ExprPtr parse_postfix(ExprPtr e);
  ExprPtr parse_subscript(ExprPtr target, uint32_t pos);
  void parse_call_args(Expr& e);
  ExprPtr parse_call(ExprPtr fn);
  std::string dotted_name();
  ExprPtr parse_filter_chain(ExprPtr e, bool need_pipe);
  ExprPtr parse_filters(ExprPtr e) { return parse_filter_chain(std::move(e), true); }
  ExprPtr parse_filter_expr(ExprPtr e);

  const Source& src_;
  const std::vector<Token>& toks_;
  size_t i_ = 0;
  int depth_ = 0;  // current nesting, see kMaxNesting
};

}  // namespace qg::chat::jinja
