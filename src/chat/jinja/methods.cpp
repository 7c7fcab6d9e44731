// Methods of str, dict and list that templates call (`content.split('</think>')`,
// `tool.items()`, ...), with Python's semantics. transformers renders in jinja2's
// ImmutableSandboxedEnvironment, so methods that would mutate a list or dict
// (append, update, pop, ...) raise instead of running.
#include <algorithm>

#include "chat/jinja/ops.h"
#include "chat/jinja/pystr.h"

namespace qg::chat::jinja {
namespace {

const Str* opt_str(Interp& in, const Value* v, const char* what) {
  if (!v || v->is_none()) return nullptr;
  if (!v->is_string()) in.raise(std::string(what) + " arg must be None or str");
  return &v->as_str();
}

int64_t opt_int(Interp& in, const Value* v, int64_t def) {
  if (!v || v->is_none()) return def;
  if (!v->is_int() && !v->is_bool()) in.raise(std::string("'") + v->type_name() + "' object cannot be interpreted as an integer");
  return v->as_int();
}

// startswith/endswith accept a str or a tuple of str.
bool affix_match(Interp& in, const Str& s, const Value& affix, bool start) {
  if (affix.is_list() && affix.is_tuple()) {
    for (const Value& a : affix.as_list())
      if (affix_match(in, s, a, start)) return true;
    return false;
  }
  if (!affix.is_string()) in.raise(std::string(start ? "startswith" : "endswith") + " first arg must be str or a tuple of str, not " + affix.type_name());
  const std::string& a = affix.as_str().bytes;
  const std::string& b = s.bytes;
  if (a.size() > b.size()) return false;
  return start ? b.compare(0, a.size(), a) == 0 : b.compare(b.size() - a.size(), a.size(), a) == 0;
}

Value str_list(std::vector<Str> parts) {
  List l;
  l.reserve(parts.size());
  for (Str& p : parts) l.push_back(Value::string(std::move(p)));
  return Value::list(std::move(l));
}

// Python str.splitlines() line boundaries.
bool line_break(uint32_t cp) {
  return cp == '\n' || cp == '\r' || cp == 0x0b || cp == 0x0c || (cp >= 0x1c && cp <= 0x1e) || cp == 0x85 ||
         cp == 0x2028 || cp == 0x2029;
}

template <typename Pred>
Value str_is(const Str& s, Pred pred) {
  if (s.bytes.empty()) return Value::boolean(false);
  for (size_t i = 0; i < s.bytes.size();)
    if (!pred(py::next_cp(s.bytes, i))) return Value::boolean(false);
  return Value::boolean(true);
}

Value str_method(Interp& in, const Value& self, const std::string& name, Args& a, Kwargs& kw) {
  const Str& s = self.as_str();
  if (name == "startswith" || name == "endswith") {
    const Value* x = arg(a, kw, 0, "prefix");
    if (!x) in.raise(name + "() takes at least 1 argument (0 given)");
    return Value::boolean(affix_match(in, s, *x, name == "startswith"));
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const Str* chars = opt_str(in, arg(a, kw, 0, "chars"), name.c_str());
    return Value::string(py::strip(s, chars, name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    const Str* sep = opt_str(in, arg(a, kw, 0, "sep"), "sep");
    if (sep && sep->bytes.empty()) in.raise("empty separator");
    // At most max_items + 1 pieces are built; more is the items limit's error.
    const auto cap = static_cast<int64_t>(in.limits().max_items);
    int64_t maxsplit = opt_int(in, arg(a, kw, 1, "maxsplit"), -1);
    const bool capped = maxsplit < 0 || maxsplit > cap;
    if (capped) {
      maxsplit = cap;
      // Count the pieces first (a scan, no allocation): too many is an error before
      // a million strings are built.
      size_t pieces = 0;
      const std::string& b = s.bytes;
      if (sep) {
        pieces = 1;
        for (size_t p = b.find(sep->bytes); p != std::string::npos; p = b.find(sep->bytes, p + sep->bytes.size())) ++pieces;
      } else {
        bool in_word = false;
        for (size_t i = 0; i < b.size();) {
          const bool sp = py::isspace(py::next_cp(b, i));
          if (!sp && !in_word) ++pieces;
          in_word = !sp;
        }
      }
      if (pieces > static_cast<size_t>(cap)) in.check_items(pieces);
    }
    auto parts = py::split(s, sep, maxsplit, name == "rsplit");
    if (capped && parts.size() > static_cast<size_t>(cap)) in.check_items(parts.size());
    return str_list(std::move(parts));
  }
  if (name == "upper") return Value::string(py::change_case(s, py::Case::kUpper));
  if (name == "lower") return Value::string(py::change_case(s, py::Case::kLower));
  if (name == "title") return Value::string(py::change_case(s, py::Case::kTitle));
  if (name == "capitalize") return Value::string(py::change_case(s, py::Case::kCapitalize));
  if (name == "replace") {
    const Value* o = arg(a, kw, 0, "old");
    const Value* n = arg(a, kw, 1, "new");
    if (!o || !n || !o->is_string() || !n->is_string()) in.raise("replace() arguments must be str");
    const int64_t count = opt_int(in, arg(a, kw, 2, "count"), -1);
    in.check_string_size(py::replace_size(s, o->as_str(), n->as_str(), count));
    return Value::string(py::replace(s, o->as_str(), n->as_str(), count));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    const Value* x = arg(a, kw, 0, "sub");
    if (!x || !x->is_string()) in.raise(name + "() argument must be str");
    const std::string& sub = x->as_str().bytes;
    if (name == "count") {
      if (sub.empty()) return Value::integer(static_cast<int64_t>(py::cp_count(s.bytes)) + 1);
      int64_t n = 0;
      for (size_t p = s.bytes.find(sub); p != std::string::npos; p = s.bytes.find(sub, p + sub.size())) ++n;
      return Value::integer(n);
    }
    const size_t p = name[0] == 'r' ? s.bytes.rfind(sub) : s.bytes.find(sub);
    if (p == std::string::npos) {
      if (name == "index" || name == "rindex") in.raise("substring not found");
      return Value::integer(-1);
    }
    return Value::integer(static_cast<int64_t>(py::cp_count(std::string_view(s.bytes).substr(0, p))));
  }
  if (name == "join") {
    const Value* x = arg(a, kw, 0, "iterable");
    if (!x) in.raise("join() takes exactly one argument");
    Str out;
    bool first = true;
    for (const Value& v : iterate(in, *x)) {
      if (!v.is_string()) in.raise(std::string("sequence item: expected str instance, ") + v.type_name() + " found");
      if (!first) out.append(s);
      first = false;
      in.check_string_size(out.bytes.size() + v.as_str().bytes.size() + s.bytes.size());
      in.charge(1);
      out.append(v.as_str());
    }
    return Value::string(std::move(out));
  }
  if (name == "splitlines") {
    const bool keep = arg(a, kw, 0, "keepends") && arg(a, kw, 0, "keepends")->truthy();
    std::vector<Str> lines;
    const std::string& b = s.bytes;
    size_t start = 0;
    for (size_t i = 0; i < b.size();) {
      const size_t at = i;
      const uint32_t cp = py::next_cp(b, i);
      if (!line_break(cp)) continue;
      if (cp == '\r' && i < b.size() && b[i] == '\n') ++i;
      if (lines.size() >= in.limits().max_items) in.check_items(lines.size() + 1);
      lines.push_back(s.slice(start, keep ? i : at));
      start = i;
    }
    if (start < b.size()) lines.push_back(s.slice(start, b.size()));
    return str_list(std::move(lines));
  }
  if (name == "removeprefix" || name == "removesuffix") {
    const Value* x = arg(a, kw, 0, "affix");
    if (!x || !x->is_string()) in.raise(name + "() argument must be str");
    const std::string& f = x->as_str().bytes;
    if (name == "removeprefix" && s.bytes.compare(0, f.size(), f) == 0) return Value::string(s.slice(f.size(), s.bytes.size()));
    if (name == "removesuffix" && !f.empty() && s.bytes.size() >= f.size() &&
        s.bytes.compare(s.bytes.size() - f.size(), f.size(), f) == 0)
      return Value::string(s.slice(0, s.bytes.size() - f.size()));
    return self;
  }
  if (name == "isspace") return str_is(s, [](uint32_t c) { return py::isspace(c); });
  if (name == "isdigit") return str_is(s, [](uint32_t c) { return c >= '0' && c <= '9'; });
  if (name == "isalpha") return str_is(s, [](uint32_t c) { return c < 0x80 && std::isalpha(static_cast<int>(c)); });
  if (name == "isalnum") return str_is(s, [](uint32_t c) { return c < 0x80 && std::isalnum(static_cast<int>(c)); });
  if (name == "islower" || name == "isupper") {
    // Python: every cased character has the asked case, and there is at least one.
    const bool up = name == "isupper";
    bool cased = false;
    for (size_t i = 0; i < s.bytes.size();) {
      const int k = py::case_kind(py::next_cp(s.bytes, i));
      if (k == 0) continue;
      if ((k == 2) != up) return Value::boolean(false);
      cased = true;
    }
    return Value::boolean(cased);
  }
  in.raise("str method '" + name + "' is not supported");
}

Value map_method(Interp& in, const Value& self, const std::string& name, Args& a, Kwargs& kw) {
  const Map& m = self.as_map();
  if (name == "items") {
    List l;
    for (const auto& [k, v] : m.entries) l.push_back(Value::list({k, v}, true));
    return Value::list(std::move(l));
  }
  if (name == "keys" || name == "values") {
    List l;
    for (const auto& [k, v] : m.entries) l.push_back(name == "keys" ? k : v);
    return Value::list(std::move(l));
  }
  if (name == "get") {
    const Value* k = arg(a, kw, 0, "key");
    if (!k) in.raise("get expected at least 1 argument, got 0");
    const Value* v = m.find(*k);
    if (v) return *v;
    const Value* d = arg(a, kw, 1, "default");
    return d ? *d : Value::none();
  }
  if (name == "copy") return Value::map(m);
  in.raise("access to attribute '" + name + "' of 'dict' object is unsafe.");
}

Value list_method(Interp& in, const Value& self, const std::string& name, Args& a, Kwargs& kw) {
  const List& l = self.as_list();
  const Value* x = arg(a, kw, 0, "value");
  if (name == "index" || name == "count") {
    if (!x) in.raise(name + "() takes at least 1 argument");
    int64_t n = 0;
    for (size_t i = 0; i < l.size(); ++i) {
      if (!l[i].equals(*x)) continue;
      if (name == "index") return Value::integer(static_cast<int64_t>(i));
      ++n;
    }
    if (name == "index") in.raise("value is not in list");
    return Value::integer(n);
  }
  if (name == "copy") return Value::list(l);
  in.raise("access to attribute '" + name + "' of '" + self.type_name() + "' object is unsafe.");
}

bool is_one_of(const std::string& n, std::initializer_list<const char*> names) {
  return std::any_of(names.begin(), names.end(), [&](const char* x) { return n == x; });
}

}  // namespace

Value method(Interp& in, const Value& obj, const std::string& name) {
  using Fn = Value (*)(Interp&, const Value&, const std::string&, Args&, Kwargs&);
  Fn fn = nullptr;
  if (obj.is_string()) {
    if (is_one_of(name, {"startswith", "endswith", "strip", "lstrip", "rstrip", "split", "rsplit", "upper", "lower",
                         "title", "capitalize", "replace", "find", "rfind", "index", "rindex", "count", "join",
                         "splitlines", "removeprefix", "removesuffix", "isspace", "isdigit", "isalpha", "isalnum",
                         "islower", "isupper"}))
      fn = str_method;
  } else if (obj.kind() == Value::Kind::kMap) {
    if (is_one_of(name, {"items", "keys", "values", "get", "copy", "pop", "popitem", "update", "clear",
                         "setdefault"}))
      fn = map_method;
  } else if (obj.is_list()) {
    if (is_one_of(name, {"index", "count", "copy", "append", "extend", "insert", "pop", "remove", "reverse", "sort",
                         "clear"}))
      fn = list_method;
  }
  if (!fn) return Value();
  return Value::callable(name, [fn, obj, name](Interp& i, Args& a, Kwargs& kw) { return fn(i, obj, name, a, kw); });
}

}  // namespace qg::chat::jinja
