// Tree-walking Jinja interpreter. One Interp renders one template call: it owns the
// variable scopes (jinja2 scoping: a for-loop iteration and a macro call get their own
// scope, `if` does not, `set` writes to the innermost scope) and the output buffer.
// Errors are qg::Error "<template>:<line>:<col>: message" at the node being evaluated.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "chat/jinja/ast.h"
#include "chat/jinja/lexer.h"
#include "chat/render_limits.h"
#include "chat/value.h"

namespace qg::chat::jinja {

// An error that already carries its template position.
class TemplateError : public Error {
 public:
  using Error::Error;
};

class Interp {
 public:
  using Frame = std::vector<std::pair<std::string, Value>>;

  // `globals`: the render() keyword arguments (messages, tools, add_generation_prompt, ...).
  // `limits` must outlive the Interp.
  Interp(const Source& src, Frame globals, const RenderLimits& limits);

  Str render(const Body& body);

  Value eval(const Expr& e);
  Value lookup(std::string_view name) const;
  void assign(const std::string& name, Value v);
  Value call(const Value& fn, Args& args, Kwargs& kwargs);

  // Throws TemplateError at the node being evaluated.
  [[noreturn]] void raise(const std::string& msg) const;
  [[noreturn]] void raise_at(uint32_t pos, const std::string& msg) const;
  uint32_t pos() const { return pos_; }

  // The budget (render_limits.h). Builders of large values (operators, filters) check
  // their result size with these *before* allocating it.
  const RenderLimits& limits() const { return limits_; }
  void check_string_size(size_t bytes) const;   // throws past max_string_bytes
  void check_items(size_t n) const;             // throws past max_items
  // Charges `n` steps; throws when the budget is spent.
  void charge(int64_t n) {
    steps_ += n;
    if (steps_ > limits_.max_steps) steps_exceeded();
  }

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  Flow exec(const Body& body, Str& out);
  Flow exec_stmt(const Stmt& s, Str& out);
  Flow exec_stmt_inner(const Stmt& s, Str& out);
  Flow exec_for(const Stmt& s, Str& out);
  void loop_body(const Stmt& s, const List& items, Str& out, int depth);
  Value make_macro(const Stmt& s);
  Value eval_call(const Expr& e);
  Value eval_filter(const Expr& e);
  bool eval_test(const Expr& e);
  void eval_args(const Expr& e, Args& args, Kwargs& kwargs);
  Value eval_compare(const Expr& e);
  void collect_sum(const Expr& e, std::vector<Value>& parts);  // operands of a + b + c, in order
  // Charges for a value just built (by size) and checks it against the size limits.
  const Value& built(const Value& v);
  void check_output(const Str& out) const;
  [[noreturn]] void steps_exceeded() const;

  const Source& src_;
  std::vector<Frame> frames_;  // frames_[0] holds the globals
  uint32_t pos_ = 0;           // node being evaluated, for error messages
  const RenderLimits& limits_;
  int depth_ = 0;              // nested macro calls, at most limits_.max_call_depth
  int nesting_ = 0;            // nested eval/exec frames on the C++ stack, at most kMaxNesting
  int64_t steps_ = 0;          // evaluation steps spent, at most limits_.max_steps
};

}  // namespace qg::chat::jinja
