// The Jinja statement and expression evaluator (see interpreter.h). Operator, filter
// and method semantics live in ops.cpp, filters.cpp and methods.cpp; this file is the
// control flow, scoping, macros and the builtin globals (range, namespace, dict, and
// transformers' raise_exception and strftime_now).
#include "chat/jinja/interpreter.h"

#include <ctime>
#include <iterator>

#include "chat/jinja/ops.h"

namespace qg::chat::jinja {
namespace {

// The placeholder name the parser gives the body of {% set x | f %} / {% filter f %}.
constexpr std::string_view kBlockBody = "\x01" "body";
// Nested eval()/exec_stmt() frames. The parser bounds one template's tree depth
// (kMaxNesting); macros calling macros multiply it, so the C++ stack needs its own bound
// (~1 KB per frame pair with sanitizers: a few MB at most).
constexpr int kMaxEvalNesting = 3000;
// A loop iteration builds the 12-entry `loop` map and a scope: it costs as much as a dozen
// plain steps, and is charged so (RenderLimits::max_steps counts work, not nodes).
constexpr int64_t kStepsPerIteration = 16;

// RAII count of eval/exec nesting.
struct NestGuard {
  int& n;
  NestGuard(int& n_, const Interp& in) : n(n_) {
    if (++n > kMaxEvalNesting) {
      --n;
      in.raise("template evaluation nested deeper than " + std::to_string(kMaxEvalNesting) +
               " levels (recursion limit)");
    }
  }
  ~NestGuard() { --n; }
};

Value builtin(std::string_view name) {
  if (name == "range") {
    static const Value v = Value::callable("range", [](Interp& in, Args& a, Kwargs&) {
      int64_t start = 0, stop = 0, step = 1;
      for (const Value& x : a)
        if (!x.is_int() && !x.is_bool()) in.raise(std::string("'") + x.type_name() + "' object cannot be interpreted as an integer");
      if (a.size() == 1) stop = a[0].as_int();
      else if (a.size() >= 2) start = a[0].as_int(), stop = a[1].as_int();
      if (a.size() >= 3) step = a[2].as_int();
      if (a.empty() || a.size() > 3) in.raise("range expected 1 to 3 arguments");
      if (step == 0) in.raise("range() arg 3 must not be zero");
      List out;
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (out.size() >= 100000) in.raise("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
        out.push_back(Value::integer(i));
      }
      return Value::list(std::move(out));
    });
    return v;
  }
  if (name == "namespace" || name == "dict") {
    const bool is_ns = name == "namespace";
    static const Value ns = Value::callable("namespace", [](Interp& in, Args& a, Kwargs& kw) {
      Map m;
      for (const Value& x : a) {
        if (!x.is_map()) in.raise("namespace() positional argument must be a mapping");
        for (const auto& [k, v] : x.as_map().entries) {
          in.charge(static_cast<int64_t>(m.entries.size()) + 1);
          m.set(k, v);
        }
      }
      for (auto& [k, v] : kw) {
        in.charge(static_cast<int64_t>(m.entries.size()) + 1);  // Map::set scans: quadratic, paid for
        m.set(Value::string(k), v);
      }
      return Value::ns(std::move(m));
    });
    static const Value dict = Value::callable("dict", [](Interp& in, Args& a, Kwargs& kw) {
      Map m;
      for (const Value& x : a) {
        if (!x.is_map()) in.raise("dict() positional argument must be a mapping");
        for (const auto& [k, v] : x.as_map().entries) {
          in.charge(static_cast<int64_t>(m.entries.size()) + 1);
          m.set(k, v);
        }
      }
      for (auto& [k, v] : kw) {
        in.charge(static_cast<int64_t>(m.entries.size()) + 1);
        m.set(Value::string(k), v);
      }
      return Value::map(std::move(m));
    });
    return is_ns ? ns : dict;
  }
  if (name == "raise_exception") {
    static const Value v = Value::callable("raise_exception", [](Interp& in, Args& a, Kwargs&) -> Value {
      in.raise(a.empty() ? std::string() : a[0].to_str().bytes);
    });
    return v;
  }
  if (name == "strftime_now") {
    static const Value v = Value::callable("strftime_now", [](Interp& in, Args& a, Kwargs&) {
      if (a.empty() || !a[0].is_string()) in.raise("strftime_now() expects a format string");
      const std::time_t t = std::time(nullptr);
      std::tm tm{};
      localtime_r(&t, &tm);
      char buf[256];
      const size_t n = std::strftime(buf, sizeof buf, a[0].as_str().bytes.c_str(), &tm);
      return Value::string(std::string(buf, n));
    });
    return v;
  }
  return Value::undefined(std::string("'") + std::string(name) + "' is undefined");
}

}  // namespace

Interp::Interp(const Source& src, Frame globals, const RenderLimits& limits) : src_(src), limits_(limits) {
  frames_.push_back(std::move(globals));
}

void Interp::steps_exceeded() const {
  raise(cat("template evaluation exceeded its budget of ", limits_.max_steps,
            " steps (RenderLimits::max_steps): an endless or enormous loop?"));
}

void Interp::check_string_size(size_t bytes) const {
  if (bytes > limits_.max_string_bytes) {
    raise(cat("string of ", bytes, " bytes exceeds the limit of ", limits_.max_string_bytes,
              " bytes (RenderLimits::max_string_bytes)"));
  }
}

void Interp::check_items(size_t n) const {
  if (n > limits_.max_items) {
    raise(cat("list or dict of ", n, " items exceeds the limit of ", limits_.max_items,
              " items (RenderLimits::max_items)"));
  }
}

void Interp::check_output(const Str& out) const {
  if (out.bytes.size() > limits_.max_output_bytes) {
    raise(cat("rendered output exceeds the limit of ", limits_.max_output_bytes,
              " bytes (RenderLimits::max_output_bytes)"));
  }
}

const Value& Interp::built(const Value& v) {
  if (v.is_string()) {
    check_string_size(v.as_str().bytes.size());
    charge(static_cast<int64_t>(v.as_str().bytes.size() / 64));
  } else if (v.is_list()) {
    check_items(v.as_list().size());
    charge(static_cast<int64_t>(v.as_list().size()));
  } else if (v.is_map()) {
    check_items(v.as_map().entries.size());
    charge(static_cast<int64_t>(v.as_map().entries.size()));
  }
  return v;
}

void Interp::raise(const std::string& msg) const { raise_at(pos_, msg); }

void Interp::raise_at(uint32_t pos, const std::string& msg) const { throw TemplateError(src_.where(pos) + ": " + msg); }

Str Interp::render(const Body& body) {
  Str out;
  out.bytes.reserve(4096);
  try {
    exec(body, out);
  } catch (const TemplateError&) {
    throw;
  } catch (const Error& e) {
    raise(e.what());  // errors from helpers that do not know the position
  }
  return out;
}

Value Interp::lookup(std::string_view name) const {
  for (auto f = frames_.rbegin(); f != frames_.rend(); ++f)
    for (const auto& [k, v] : *f)
      if (k == name) return v;
  return builtin(name);
}

void Interp::assign(const std::string& name, Value v) {
  Frame& f = frames_.back();
  for (auto& [k, old] : f) {
    if (k == name) {
      old = std::move(v);
      return;
    }
  }
  f.emplace_back(name, std::move(v));
}

Value Interp::call(const Value& fn, Args& args, Kwargs& kwargs) {
  if (fn.is_undefined()) raise(fn.undefined_hint().empty() ? "undefined value is not callable" : fn.undefined_hint());
  if (!fn.is_callable()) raise(std::string("'") + fn.type_name() + "' object is not callable");
  if (++depth_ > limits_.max_call_depth) {
    raise(cat("maximum recursion depth exceeded (", limits_.max_call_depth,
              " nested calls, RenderLimits::max_call_depth)"));
  }
  Value r = fn.as_callable().fn(*this, args, kwargs);
  --depth_;
  return r;
}

Interp::Flow Interp::exec(const Body& body, Str& out) {
  for (const StmtPtr& s : body) {
    const Flow f = exec_stmt(*s, out);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

Interp::Flow Interp::exec_stmt(const Stmt& s, Str& out) {
  const NestGuard guard(nesting_, *this);
  charge(1);
  const Flow f = exec_stmt_inner(s, out);
  check_output(out);
  return f;
}

Interp::Flow Interp::exec_stmt_inner(const Stmt& s, Str& out) {
  switch (s.kind) {
    case StmtKind::kData: out.append(s.text); return Flow::kNormal;
    case StmtKind::kOutput: {
      if (s.expr->kind == ExprKind::kBinary && s.expr->name == "+") {
        // {{ 'literal' + message.content + ... }}: when every operand is a string the
        // sum is their concatenation, so append them without building the temporary.
        thread_local std::vector<Value> parts;
        const size_t base = parts.size();
        collect_sum(*s.expr, parts);
        bool all_str = true;
        for (size_t k = base; k < parts.size(); ++k) all_str &= parts[k].is_string();
        if (all_str) {
          for (size_t k = base; k < parts.size(); ++k) out.append(parts[k].as_str());
        } else {
          Value acc = parts[base];
          pos_ = s.expr->pos;
          for (size_t k = base + 1; k < parts.size(); ++k) acc = binary_op(*this, "+", acc, parts[k]);
          out.append(acc.to_str());
        }
        parts.resize(base);
        return Flow::kNormal;
      }
      const Value v = eval(*s.expr);
      if (v.is_string()) out.append(v.as_str());
      else out.append(v.to_str());
      return Flow::kNormal;
    }
    case StmtKind::kIf:
      return exec(eval(*s.expr).truthy() ? s.body : s.else_body, out);
    case StmtKind::kFor: return exec_for(s, out);
    case StmtKind::kSet: {
      pos_ = s.pos;
      Value v = eval(*s.expr);
      if (!s.attr.empty()) {
        const Value ns = lookup(s.targets[0]);
        if (!ns.is_namespace()) raise_at(s.pos, "cannot assign attribute on non-namespace object");
        // A namespace holding a namespace could hold itself (a cycle that printing would
        // follow forever); no chat template needs one.
        if (v.holds_namespace()) raise_at(s.pos, "a namespace attribute cannot hold a namespace");
        if (v.depth() >= kMaxValueDepth / 2) {
          raise_at(s.pos, cat("a namespace attribute cannot hold a value nested ", v.depth(), " levels deep"));
        }
        ns.mutable_namespace().set(Value::string(s.attr), std::move(v));
      } else if (s.targets.size() == 1) {
        assign(s.targets[0], std::move(v));
      } else {
        const List items = iterate(*this, v);
        if (items.size() != s.targets.size())
          raise_at(s.pos, cat(items.size() > s.targets.size() ? "too many values to unpack (expected " : "not enough values to unpack (expected ", s.targets.size(), ")"));
        for (size_t i = 0; i < items.size(); ++i) assign(s.targets[i], items[i]);
      }
      return Flow::kNormal;
    }
    case StmtKind::kSetBlock:
    case StmtKind::kFilterBlock: {
      Str body;
      exec(s.body, body);
      Value v = Value::string(std::move(body));
      if (s.cond) {
        frames_.push_back({{std::string(kBlockBody), v}});
        v = eval(*s.cond);
        frames_.pop_back();
      }
      if (s.kind == StmtKind::kSetBlock) {
        assign(s.targets[0], std::move(v));
      } else {
        out.append(v.to_str());
      }
      return Flow::kNormal;
    }
    case StmtKind::kMacro: assign(s.name, make_macro(s)); return Flow::kNormal;
    case StmtKind::kBreak: return Flow::kBreak;
    case StmtKind::kContinue: return Flow::kContinue;
    case StmtKind::kScope: {
      if (!s.new_scope) return exec(s.body, out);
      Frame f;
      for (const auto& [k, e] : s.params) f.emplace_back(k, eval(*e));
      frames_.push_back(std::move(f));
      const Flow fl = exec(s.body, out);
      frames_.pop_back();
      return fl;
    }
    case StmtKind::kCallBlock: raise_at(s.pos, "{% call %} is not supported");
  }
  return Flow::kNormal;
}

void Interp::collect_sum(const Expr& e, std::vector<Value>& parts) {
  if (e.kind == ExprKind::kBinary && e.name == "+") {
    collect_sum(*e.a, parts);
    collect_sum(*e.b, parts);
  } else {
    parts.push_back(eval(e));
  }
}

Interp::Flow Interp::exec_for(const Stmt& s, Str& out) {
  pos_ = s.pos;
  const Value seq = eval(*s.expr);
  List items = iterate(*this, seq);
  if (s.cond) {
    // `for x in xs if cond`: the filter sees the loop target, not `loop`.
    List kept;
    for (const Value& item : items) {
      frames_.emplace_back();
      if (s.targets.size() == 1) {
        assign(s.targets[0], item);
      } else {
        const List parts = iterate(*this, item);
        for (size_t i = 0; i < s.targets.size() && i < parts.size(); ++i) assign(s.targets[i], parts[i]);
      }
      charge(1);
      const bool keep = eval(*s.cond).truthy();
      frames_.pop_back();
      if (keep) kept.push_back(item);
    }
    items = std::move(kept);
  }
  if (items.empty()) return exec(s.else_body, out);
  loop_body(s, items, out, 1);
  return Flow::kNormal;
}

void Interp::loop_body(const Stmt& s, const List& items, Str& out, int depth) {
  const auto n = static_cast<int64_t>(items.size());
  // One loop.cycle per loop, reading the current iteration (one allocation, not n).
  auto index = std::make_shared<int64_t>(0);
  const Value cycle = Value::callable("cycle", [index](Interp& in, Args& a, Kwargs&) {
    if (a.empty()) in.raise("no items for cycling given");
    return a[static_cast<size_t>(*index) % a.size()];
  });
  for (int64_t i = 0; i < n; ++i) {
    charge(kStepsPerIteration);
    frames_.emplace_back();
    Frame& f = frames_.back();
    f.reserve(s.targets.size() + 1);
    const Value& item = items[static_cast<size_t>(i)];
    if (s.targets.size() == 1) {
      f.emplace_back(s.targets[0], item);
    } else {
      const List parts = iterate(*this, item);
      if (parts.size() != s.targets.size())
        raise_at(s.pos, cat(parts.size() > s.targets.size() ? "too many values to unpack (expected " : "not enough values to unpack (expected ", s.targets.size(), ")"));
      for (size_t k = 0; k < parts.size(); ++k) f.emplace_back(s.targets[k], parts[k]);
    }
    Map loop;
    loop.entries.reserve(12);
    // The key strings are built once: a loop map is made per iteration.
    static const Value kKeys[] = {Value::string("index0"),   Value::string("index"),    Value::string("revindex0"),
                                  Value::string("revindex"), Value::string("first"),    Value::string("last"),
                                  Value::string("length"),   Value::string("depth0"),   Value::string("depth"),
                                  Value::string("previtem"), Value::string("nextitem"), Value::string("cycle")};
    static const Value kNoPrev = Value::undefined("there is no previous item");
    static const Value kNoNext = Value::undefined("there is no next item");
    const Value vals[] = {Value::integer(i),         Value::integer(i + 1),         Value::integer(n - i - 1),
                          Value::integer(n - i),     Value::boolean(i == 0),        Value::boolean(i == n - 1),
                          Value::integer(n),         Value::integer(depth - 1),     Value::integer(depth),
                          i > 0 ? items[static_cast<size_t>(i - 1)] : kNoPrev,
                          i + 1 < n ? items[static_cast<size_t>(i + 1)] : kNoNext, cycle};
    *index = i;
    for (size_t k = 0; k < std::size(kKeys); ++k) loop.entries.emplace_back(kKeys[k], vals[k]);
    f.emplace_back("loop", Value::map(std::move(loop)));
    const Flow fl = exec(s.body, out);
    frames_.pop_back();
    if (fl == Flow::kBreak) break;
  }
}

Value Interp::make_macro(const Stmt& s) {
  const Stmt* def = &s;
  return Value::callable(s.name, [def](Interp& in, Args& args, Kwargs& kwargs) {
    // A macro sees the template's top-level names and its own parameters, not the
    // caller's loop variables; a default may refer to the parameters before it.
    std::vector<Frame> saved(std::make_move_iterator(in.frames_.begin() + 1), std::make_move_iterator(in.frames_.end()));
    auto restore = [&] {
      in.frames_.resize(1);
      for (auto& fr : saved) in.frames_.push_back(std::move(fr));
    };
    in.frames_.resize(1);
    in.frames_.emplace_back();
    Str out;
    try {
      for (size_t i = 0; i < def->params.size(); ++i) {
        const auto& [pname, pdef] = def->params[i];
        const Value* v = i < args.size() ? &args[i] : nullptr;
        for (auto& [k, kv] : kwargs)
          if (!v && k == pname) v = &kv;
        in.assign(pname, v ? *v : pdef ? in.eval(*pdef) : Value::undefined("parameter '" + pname + "' was not provided"));
      }
      List varargs;
      for (size_t i = def->params.size(); i < args.size(); ++i) varargs.push_back(args[i]);
      in.assign("varargs", Value::list(std::move(varargs), true));
      Map extra;
      for (auto& [k, kv] : kwargs) {
        bool is_param = false;
        for (const auto& p : def->params) is_param |= p.first == k;
        if (!is_param) extra.set(Value::string(k), kv);
      }
      in.assign("kwargs", Value::map(std::move(extra)));
      in.exec(def->body, out);
    } catch (...) {
      restore();
      throw;
    }
    restore();
    return Value::string(std::move(out));
  });
}

void Interp::eval_args(const Expr& e, Args& args, Kwargs& kwargs) {
  args.reserve(e.items.size());
  for (const ExprPtr& a : e.items) args.push_back(eval(*a));
  for (const auto& [k, v] : e.kwargs) kwargs.emplace_back(k, eval(*v));
  if (e.star_args)
    for (Value& v : iterate(*this, eval(*e.star_args))) args.push_back(std::move(v));
  if (e.star_kwargs) {
    const Value m = eval(*e.star_kwargs);
    if (!m.is_map()) raise("argument after ** must be a mapping");
    for (const auto& [k, v] : m.as_map().entries) kwargs.emplace_back(k.to_str().bytes, v);
  }
}

Value Interp::eval_call(const Expr& e) {
  const Value fn = eval(*e.a);
  Args args;
  Kwargs kwargs;
  eval_args(e, args, kwargs);
  pos_ = e.pos;
  return call(fn, args, kwargs);
}

Value Interp::eval_filter(const Expr& e) {
  const Value v = eval(*e.a);
  Args args;
  Kwargs kwargs;
  eval_args(e, args, kwargs);
  pos_ = e.pos;
  return apply_filter(*this, e.name, v, args, kwargs);
}

bool Interp::eval_test(const Expr& e) {
  const Value v = eval(*e.a);
  Args args;
  Kwargs kwargs;
  eval_args(e, args, kwargs);
  pos_ = e.pos;
  return apply_test(*this, e.name, v, args, kwargs) != e.negate;
}

Value Interp::eval_compare(const Expr& e) {
  Value left = eval(*e.a);
  for (size_t i = 0; i < e.ops.size(); ++i) {
    Value right = eval(*e.items[i]);
    pos_ = e.pos;
    const std::string& op = e.ops[i];
    bool ok;
    if (op == "in") ok = contains(*this, right, left);
    else if (op == "notin") ok = !contains(*this, right, left);
    else ok = compare(*this, op, left, right);
    if (!ok) return Value::boolean(false);
    left = std::move(right);
  }
  return Value::boolean(true);
}

Value Interp::eval(const Expr& e) {
  const NestGuard guard(nesting_, *this);
  charge(1);
  switch (e.kind) {
    case ExprKind::kLiteral: return e.value;
    case ExprKind::kName: return lookup(e.name);
    case ExprKind::kList:
    case ExprKind::kTuple: {
      List items;
      items.reserve(e.items.size());
      for (const ExprPtr& x : e.items) items.push_back(eval(*x));
      return built(Value::list(std::move(items), e.kind == ExprKind::kTuple));
    }
    case ExprKind::kDict: {
      Map m;
      for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
        Value k = eval(*e.items[i]);
        pos_ = e.items[i]->pos;
        require_hashable(*this, k);
        charge(static_cast<int64_t>(m.entries.size()));  // Map::set scans the entries
        m.set(std::move(k), eval(*e.items[i + 1]));
      }
      return built(Value::map(std::move(m)));
    }
    case ExprKind::kGetattr: {
      const Value obj = eval(*e.a);
      pos_ = e.pos;
      return get_attr(*this, obj, e.name);
    }
    case ExprKind::kGetitem: {
      const Value obj = eval(*e.a);
      const Value key = eval(*e.b);
      pos_ = e.pos;
      return get_item(*this, obj, key);
    }
    case ExprKind::kSlice: {
      const Value obj = eval(*e.a);
      const Value b = e.b ? eval(*e.b) : Value::none();
      const Value c = e.c ? eval(*e.c) : Value::none();
      const Value d = e.d ? eval(*e.d) : Value::none();
      pos_ = e.pos;
      return built(slice(*this, obj, b, c, d));
    }
    case ExprKind::kCall: return built(eval_call(e));
    case ExprKind::kFilter: return built(eval_filter(e));
    case ExprKind::kTest: return Value::boolean(eval_test(e));
    case ExprKind::kNeg:
    case ExprKind::kPos: {
      const Value v = eval(*e.a);
      pos_ = e.pos;
      if (!v.is_number()) raise(std::string("bad operand type for unary ") + (e.kind == ExprKind::kNeg ? "-" : "+") + ": '" + v.type_name() + "'");
      if (e.kind == ExprKind::kPos) return v.is_bool() ? Value::integer(v.as_int()) : v;
      if (v.is_float()) return Value::floating(-v.as_float());
      if (v.as_int() == INT64_MIN) raise("integer overflow: values beyond 64 bits are not supported");
      return Value::integer(-v.as_int());
    }
    case ExprKind::kNot: return Value::boolean(!eval(*e.a).truthy());
    case ExprKind::kAnd: {
      Value a = eval(*e.a);
      return a.truthy() ? eval(*e.b) : a;
    }
    case ExprKind::kOr: {
      Value a = eval(*e.a);
      return a.truthy() ? a : eval(*e.b);
    }
    case ExprKind::kBinary: {
      const Value a = eval(*e.a);
      const Value b = eval(*e.b);
      pos_ = e.pos;
      if (e.name == "~") {
        Str s = a.to_str();
        s.append(b.to_str());
        return built(Value::string(std::move(s)));
      }
      return built(binary_op(*this, e.name, a, b));
    }
    case ExprKind::kCompare: return eval_compare(e);
    case ExprKind::kCond:
      if (eval(*e.a).truthy()) return eval(*e.b);
      return e.c ? eval(*e.c) : Value::undefined("the inline if-expression evaluated to false and no else section was defined");
  }
  return Value();
}

}  // namespace qg::chat::jinja
