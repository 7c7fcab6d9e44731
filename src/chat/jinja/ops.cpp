// Operators, item/attribute access, slicing and iteration with Python semantics (see
// ops.h). Missing items and attributes give jinja2's default Undefined, which only
// raises when it is used (printed as "", false, iterates as empty).
#include "chat/jinja/ops.h"

#include <algorithm>
#include <cmath>

#include "chat/jinja/pystr.h"

namespace qg::chat::jinja {

[[noreturn]] static void undefined_error(Interp& in, const Value& v) {
  in.raise(v.undefined_hint().empty() ? "undefined value" : v.undefined_hint());
}

static std::string tname(const Value& v) { return std::string("'") + v.type_name() + "'"; }

// Python integers are unbounded; ours are 64-bit and refuse to wrap silently.
static Value checked(Interp& in, int64_t a, int64_t b, char op) {
  int64_t r;
  const bool over = op == '+' ? __builtin_add_overflow(a, b, &r) : op == '-' ? __builtin_sub_overflow(a, b, &r) : __builtin_mul_overflow(a, b, &r);
  if (over) in.raise("integer overflow: values beyond 64 bits are not supported");
  return Value::integer(r);
}

static int64_t floordiv(Interp& in, int64_t a, int64_t b) {
  // INT64_MIN / -1 is the one quotient that does not fit (and traps on x86).
  if (a == INT64_MIN && b == -1) in.raise("integer overflow: values beyond 64 bits are not supported");
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// Python's `str % args` for the conversions templates use: %s %r %d %i %%. Without
// conversions, a mapping or list argument (anything but a str with __getitem__) or an
// empty tuple is accepted and ignored, as Python does.
static Str printf_format(Interp& in, const Str& f, const Value& arg) {
  const std::string& b = f.bytes;
  std::vector<Value> args;
  const bool is_tuple = arg.is_tuple();
  if (is_tuple) args = arg.as_list();
  else args.push_back(arg);
  size_t used = 0;
  bool any_conv = false;
  Str out;
  size_t lit = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    if (b[i] != '%') continue;
    out.append(f.slice(lit, i));
    if (i + 1 >= b.size()) in.raise("incomplete format");
    const char c = b[++i];
    lit = i + 1;
    if (c == '%') {
      out.append("%");
      continue;
    }
    if (c != 's' && c != 'r' && c != 'd' && c != 'i') in.raise(std::string("unsupported format character '") + c + "'");
    any_conv = true;
    if (used >= args.size()) in.raise("not enough arguments for format string");
    const Value& v = args[used++];
    if (c == 's') {
      out.append(v.to_str());
    } else if (c == 'r') {
      v.repr_into(out);
    } else {
      if (!v.is_number()) in.raise(std::string("%") + c + " format: a real number is required, not " + v.type_name());
      if (v.is_float() && !(std::fabs(v.as_float()) < 9.2e18)) in.raise("%d format: float out of the 64-bit integer range");
      out.append(std::to_string(v.is_float() ? static_cast<int64_t>(v.as_float()) : v.as_int()), v.scalar_origin());
    }
  }
  out.append(f.slice(lit, b.size()));
  const bool mapping_like = !is_tuple && (arg.is_map() || arg.is_list() || arg.is_undefined());
  if (used < args.size() && !(mapping_like && !any_conv) && !(is_tuple && args.empty()))
    in.raise("not all arguments converted during string formatting");
  return out;
}

Value binary_op(Interp& in, std::string_view op, const Value& a, const Value& b) {
  // str.__mod__ accepts any right operand (an Undefined acts as a mapping there).
  if (op == "%" && a.is_string()) return Value::string(printf_format(in, a.as_str(), b));
  if (a.is_undefined()) undefined_error(in, a);
  if (b.is_undefined()) undefined_error(in, b);
  const bool nums = a.is_number() && b.is_number();
  const bool flt = a.is_float() || b.is_float();
  if (op == "+") {
    if (nums) return flt ? Value::floating(a.as_float() + b.as_float()) : checked(in, a.as_int(), b.as_int(), '+');
    if (a.is_string() && b.is_string()) {
      in.check_string_size(a.as_str().bytes.size() + b.as_str().bytes.size());
      Str s = a.as_str();
      s.append(b.as_str());
      return Value::string(std::move(s));
    }
    if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
      in.check_items(a.as_list().size() + b.as_list().size());
      List l = a.as_list();
      l.insert(l.end(), b.as_list().begin(), b.as_list().end());
      return Value::list(std::move(l), a.is_tuple());
    }
    if (a.is_string()) in.raise(std::string("can only concatenate str (not \"") + b.type_name() + "\") to str");
  } else if (op == "-") {
    if (nums) return flt ? Value::floating(a.as_float() - b.as_float()) : checked(in, a.as_int(), b.as_int(), '-');
  } else if (op == "*") {
    if (nums) return flt ? Value::floating(a.as_float() * b.as_float()) : checked(in, a.as_int(), b.as_int(), '*');
    const Value* seq = a.is_string() || a.is_list() ? &a : b.is_string() || b.is_list() ? &b : nullptr;
    const Value* cnt = seq == &a ? &b : &a;
    if (seq && (cnt->is_int() || cnt->is_bool())) {
      const int64_t n = std::max<int64_t>(cnt->as_int(), 0);  // Python: a negative count gives ""
      // The size is checked before anything is built: 'a' * 10**10 must not allocate, and
      // '' * 10**18 must not loop (the caller charges steps for the result's size).
      const size_t unit = seq->is_string() ? seq->as_str().bytes.size() : seq->as_list().size();
      if (unit == 0) return seq->is_string() ? Value::string(Str()) : Value::list({}, seq->is_tuple());
      const size_t cap = seq->is_string() ? in.limits().max_string_bytes : in.limits().max_items;
      if (static_cast<uint64_t>(n) > cap / unit) {
        if (seq->is_string()) in.check_string_size(cap + 1);
        in.check_items(cap + 1);
      }
      if (seq->is_string()) {
        Str s;
        for (int64_t i = 0; i < n; ++i) s.append(seq->as_str());
        return Value::string(std::move(s));
      }
      List l;
      for (int64_t i = 0; i < n; ++i) l.insert(l.end(), seq->as_list().begin(), seq->as_list().end());
      return Value::list(std::move(l), seq->is_tuple());
    }
  } else if (op == "/") {
    if (nums) {
      if (b.as_float() == 0) in.raise("division by zero");
      return Value::floating(a.as_float() / b.as_float());
    }
  } else if (op == "//") {
    if (nums) {
      if (b.as_float() == 0) in.raise("integer division or modulo by zero");
      if (flt) return Value::floating(std::floor(a.as_float() / b.as_float()));
      return Value::integer(floordiv(in, a.as_int(), b.as_int()));
    }
  } else if (op == "%") {
    if (nums) {
      if (b.as_float() == 0) in.raise("integer division or modulo by zero");
      if (flt) {
        double m = std::fmod(a.as_float(), b.as_float());
        if (m != 0 && ((m < 0) != (b.as_float() < 0))) m += b.as_float();
        return Value::floating(m);
      }
      if (b.as_int() == -1) return Value::integer(0);  // also INT64_MIN % -1
      return Value::integer(a.as_int() - floordiv(in, a.as_int(), b.as_int()) * b.as_int());
    }
    if (a.is_string()) return Value::string(printf_format(in, a.as_str(), b));
  } else if (op == "**") {
    if (nums) {
      if (!flt && b.as_int() >= 0) {
        // Square-and-multiply: at most 63 squarings, each checked (x ** 10**18 must not
        // loop 10^18 times; 1 ** 10**18 is 1).
        int64_t base = a.as_int(), e = b.as_int(), r = 1;
        while (e > 0) {
          if (e & 1) r = checked(in, r, base, '*').as_int();
          e >>= 1;
          if (e > 0) base = checked(in, base, base, '*').as_int();
        }
        return Value::integer(r);
      }
      return Value::floating(std::pow(a.as_float(), b.as_float()));
    }
  }
  in.raise("unsupported operand type(s) for " + std::string(op) + ": " + tname(a) + " and " + tname(b));
}

bool less_than(Interp& in, const Value& a, const Value& b) {
  if (a.is_undefined()) undefined_error(in, a);
  if (b.is_undefined()) undefined_error(in, b);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_float() < b.as_float();
    return a.as_int() < b.as_int();
  }
  if (a.is_string() && b.is_string()) return a.as_str().bytes < b.as_str().bytes;  // UTF-8 order = code point order
  if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
    const List &x = a.as_list(), &y = b.as_list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (x[i].equals(y[i])) continue;
      return less_than(in, x[i], y[i]);
    }
    return x.size() < y.size();
  }
  in.raise("'<' not supported between instances of " + tname(a) + " and " + tname(b));
}

bool compare(Interp& in, std::string_view op, const Value& a, const Value& b) {
  if (op == "==") return a.equals(b);
  if (op == "!=") return !a.equals(b);
  if (op == "<") return less_than(in, a, b);
  if (op == ">") return less_than(in, b, a);
  // Python: `{} <= {}` raises even though the dicts are equal, so order first.
  if (op == "<=") return !less_than(in, b, a) && (a.equals(b) || less_than(in, a, b));
  if (op == ">=") return !less_than(in, a, b) && (a.equals(b) || less_than(in, b, a));
  in.raise("unknown comparison operator " + std::string(op));
}

void require_hashable(Interp& in, const Value& v) {
  if (v.is_map() || (v.is_list() && !v.is_tuple())) in.raise(std::string("unhashable type: '") + v.type_name() + "'");
  if (v.is_tuple())
    for (const Value& x : v.as_list()) require_hashable(in, x);
}

bool contains(Interp& in, const Value& c, const Value& item) {
  switch (c.kind()) {
    case Value::Kind::kUndefined: return false;
    case Value::Kind::kString:
      if (!item.is_string()) in.raise(std::string("'in <string>' requires string as left operand, not ") + item.type_name());
      return c.as_str().bytes.find(item.as_str().bytes) != std::string::npos;
    case Value::Kind::kList:
      for (const Value& v : c.as_list())
        if (v.equals(item)) return true;
      return false;
    case Value::Kind::kMap:
      require_hashable(in, item);
      return c.as_map().find(item) != nullptr;
    default: in.raise(std::string("argument of type ") + tname(c) + " is not iterable");
  }
}

static Value missing_attr(const Value& obj, const std::string& name) {
  return Value::undefined(std::string("'") + (obj.is_map() ? "dict object" : std::string(obj.type_name()) + " object") +
                          "' has no attribute '" + name + "'");
}

Value get_attr(Interp& in, const Value& obj, const std::string& name) {
  if (obj.is_undefined()) undefined_error(in, obj);
  if (obj.is_namespace()) {
    const Value* v = obj.as_map().find(name);
    return v ? *v : missing_attr(obj, name);
  }
  Value m = method(in, obj, name);
  if (!m.is_undefined()) return m;
  if (obj.is_map()) {
    const Value* v = obj.as_map().find(name);
    if (v) return *v;
  }
  return missing_attr(obj, name);
}

static bool normalize_index(int64_t& i, size_t n) {
  if (i < 0) i += static_cast<int64_t>(n);
  return i >= 0 && i < static_cast<int64_t>(n);
}

Value get_item(Interp& in, const Value& obj, const Value& key) {
  if (obj.is_undefined()) undefined_error(in, obj);
  const bool int_key = key.is_int() || key.is_bool();
  if (obj.is_list() && int_key) {
    int64_t i = key.as_int();
    if (normalize_index(i, obj.as_list().size())) return obj.as_list()[static_cast<size_t>(i)];
    return Value::undefined(cat("'", obj.type_name(), " object' has no element ", key.as_int()));
  }
  if (obj.is_string() && int_key) {
    const std::string& b = obj.as_str().bytes;
    const auto off = py::cp_offsets(b);
    int64_t i = key.as_int();
    if (normalize_index(i, off.size() - 1)) return Value::string(obj.as_str().slice(off[i], off[i + 1]));
    return Value::undefined(cat("'str object' has no element ", key.as_int()));
  }
  if (obj.is_map()) {
    const Value* v = obj.as_map().find(key);
    if (v) return *v;
  }
  if (key.is_string()) {
    Value m = method(in, obj, key.as_str().bytes);
    if (!m.is_undefined()) return m;
  }
  Str k;
  key.repr_into(k);
  return Value::undefined(std::string("'") + (obj.is_map() ? "dict object" : std::string(obj.type_name()) + " object") +
                          "' has no attribute " + k.bytes);
}

// Python slice.indices(n).
static void slice_indices(Interp& in, const Value& start, const Value& stop, const Value& step, int64_t n,
                          int64_t& b, int64_t& e, int64_t& s) {
  auto as_index = [&](const Value& v) {
    if (!v.is_int() && !v.is_bool()) in.raise("slice indices must be integers or None");
    return v.as_int();
  };
  s = step.is_none() ? 1 : as_index(step);
  if (s == 0) in.raise("slice step cannot be zero");
  auto clamp = [&](const Value& v, int64_t def) {
    if (v.is_none()) return def;
    int64_t i = as_index(v);
    if (i < 0) {
      i += n;
      if (i < 0) i = s < 0 ? -1 : 0;
    } else if (i >= n) {
      i = s < 0 ? n - 1 : n;
    }
    return i;
  };
  b = clamp(start, s < 0 ? n - 1 : 0);
  e = clamp(stop, s < 0 ? -1 : n);
}

Value slice(Interp& in, const Value& obj, const Value& start, const Value& stop, const Value& step) {
  if (obj.is_undefined()) undefined_error(in, obj);
  int64_t b, e, s;
  if (obj.is_list()) {
    const List& l = obj.as_list();
    slice_indices(in, start, stop, step, static_cast<int64_t>(l.size()), b, e, s);
    List out;
    for (int64_t i = b; s > 0 ? i < e : i > e; i += s) out.push_back(l[static_cast<size_t>(i)]);
    return Value::list(std::move(out), obj.is_tuple());
  }
  if (obj.is_string()) {
    const Str& str = obj.as_str();
    const bool ascii = py::is_ascii(str.bytes);
    std::vector<uint32_t> off;
    if (!ascii) off = py::cp_offsets(str.bytes);
    const int64_t n = ascii ? static_cast<int64_t>(str.bytes.size()) : static_cast<int64_t>(off.size()) - 1;
    auto at = [&](int64_t i) -> size_t { return ascii ? static_cast<size_t>(i) : off[static_cast<size_t>(i)]; };
    slice_indices(in, start, stop, step, n, b, e, s);
    if (s == 1) return Value::string(b < e ? str.slice(at(b), at(e)) : Str());
    Str out;
    for (int64_t i = b; s > 0 ? i < e : i > e; i += s) out.append(str.slice(at(i), at(i + 1)));
    return Value::string(std::move(out));
  }
  // jinja2 compiles a slice to a plain Python subscript (not environment.getitem), so
  // the TypeError propagates.
  if (obj.is_map()) in.raise("unhashable type: 'slice'");
  in.raise(tname(obj) + " object is not subscriptable");
}

List iterate(Interp& in, const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return {};
    case Value::Kind::kList: return v.as_list();
    case Value::Kind::kMap: {
      List keys;
      keys.reserve(v.as_map().entries.size());
      for (const auto& e : v.as_map().entries) keys.push_back(e.first);
      return keys;
    }
    case Value::Kind::kString: {
      const Str& s = v.as_str();
      // One value per character: bounded before building (a 64 MiB string would be
      // gigabytes of one-character strings).
      if (s.bytes.size() > in.limits().max_items) in.check_items(py::cp_count(s.bytes));
      in.charge(static_cast<int64_t>(s.bytes.size()));
      List chars;
      for (size_t i = 0; i < s.bytes.size();) {
        const size_t start = i;
        py::next_cp(s.bytes, i);
        chars.push_back(Value::string(s.slice(start, i)));
      }
      return chars;
    }
    default: in.raise(tname(v) + " object is not iterable");
  }
}

int64_t length(Interp& in, const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return 0;
    case Value::Kind::kString: return static_cast<int64_t>(py::cp_count(v.as_str().bytes));
    case Value::Kind::kList: return static_cast<int64_t>(v.as_list().size());
    case Value::Kind::kMap:
    case Value::Kind::kNamespace: return static_cast<int64_t>(v.as_map().entries.size());
    default: in.raise("object of type " + tname(v) + " has no len()");
  }
}

const Value* arg(const Args& args, const Kwargs& kwargs, size_t i, std::string_view name) {
  if (i < args.size()) return &args[i];
  for (const auto& [k, v] : kwargs)
    if (k == name) return &v;
  return nullptr;
}

}  // namespace qg::chat::jinja
