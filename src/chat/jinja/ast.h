// Syntax tree of a parsed Jinja template. Nodes are plain tagged structs (one kind
// field, a few generic slots) rather than a class hierarchy: the interpreter is one
// switch per node family, which keeps rendering fast and the tree easy to dump.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/value.h"

namespace qg::chat::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind : uint8_t {
  kLiteral,   // value
  kName,      // name
  kList,      // items
  kTuple,     // items
  kDict,      // items: key, value, key, value, ...
  kGetattr,   // a.name
  kGetitem,   // a[b]
  kSlice,     // a[b:c:d]; absent parts are null
  kCall,      // a(items, kwargs)
  kFilter,    // a | name(items, kwargs)
  kTest,      // a is [not] name(items, kwargs); negate
  kNeg,       // -a
  kPos,       // +a
  kNot,       // not a
  kAnd,       // a and b
  kOr,        // a or b
  kBinary,    // a op b: + - * / // % ** ~
  kCompare,   // a op0 items[0] op1 items[1] ... (chained, Python style); ops
  kCond,      // b if a else c  (c may be null: undefined)
};

struct Expr {
  ExprKind kind;
  uint32_t pos = 0;  // byte offset of the node in the source, for error messages
  Value value;
  std::string name;  // variable/attribute/filter/test name, or the binary operator
  ExprPtr a, b, c, d;
  std::vector<ExprPtr> items;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  ExprPtr star_args, star_kwargs;  // f(*x, **y)
  std::vector<std::string> ops;    // kCompare: "==", "!=", "<", "<=", ">", ">=", "in", "notin"
  bool negate = false;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class StmtKind : uint8_t {
  kData,      // text (template literal)
  kOutput,    // {{ expr }}
  kIf,        // expr; body; else_body (an elif is a nested kIf in else_body)
  kFor,       // targets in expr [if cond]; body; else_body; recursive
  kSet,       // targets (or ns.attr via attr) = expr
  kSetBlock,  // {% set name %}body{% endset %} (optional filter in expr chain)
  kMacro,     // name(params with defaults) body
  kCallBlock, // {% call macro(args) %}body{% endcall %}
  kFilterBlock,  // {% filter name %}body{% endfilter %}
  kBreak,
  kContinue,
  kScope,     // body run in its own scope ({% with %}) or transparently ({% generation %})
};

struct Stmt {
  StmtKind kind;
  uint32_t pos = 0;
  std::string text;                  // kData
  ExprPtr expr;                      // output value, condition, iterable, assigned value
  ExprPtr cond;                      // for ... if cond; kSetBlock filter; kCallBlock call
  std::vector<std::string> targets;  // for/set names (several: tuple unpacking)
  std::string attr;                  // set ns.attr: targets[0] is ns, attr is the attribute
  Body body, else_body;
  bool recursive = false;
  bool new_scope = false;  // kScope
  std::string name;        // kMacro
  std::vector<std::pair<std::string, ExprPtr>> params;  // kMacro: name, default (may be null); kScope: with-assignments
};

}  // namespace qg::chat::jinja
