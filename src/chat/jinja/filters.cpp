// jinja2's builtin filters and tests, as the chat templates in the wild use them, plus
// transformers' tojson override (json.dumps with ensure_ascii=False, no HTML escaping).
// An unknown filter or test is an error, as in jinja2 (there it is a compile error;
// here it is raised when the node is reached).
#include <algorithm>
#include <cmath>

#include "chat/jinja/ops.h"
#include "chat/jinja/pystr.h"

namespace qg::chat::jinja {
namespace {

bool flag(const Args& a, const Kwargs& kw, size_t i, std::string_view name, bool def = false) {
  const Value* v = arg(a, kw, i, name);
  return v ? v->truthy() : def;
}

// jinja2's make_attrgetter: "a.b.0" walks items (then attributes); digits are indices.
Value attr_path(Interp& in, Value v, const std::string& path) {
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    if (dot == std::string::npos) dot = path.size();
    const std::string part = path.substr(start, dot - start);
    const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    v = get_item(in, v, digits ? Value::integer(std::stoll(part)) : Value::string(part));
    start = dot + 1;
  }
  return v;
}

Value float_to_int(Interp& in, double d) {
  if (std::isnan(d) || std::isinf(d)) in.raise("cannot convert float NaN or infinity to integer");
  if (d >= 9.2233720368547758e18 || d < -9.2233720368547758e18) in.raise("integer overflow: values beyond 64 bits are not supported");
  return Value::integer(static_cast<int64_t>(d));
}

// For sort/unique/min/max with case_sensitive=False: strings compare lowered.
Value sort_key(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value::string(py::change_case(v.as_str(), py::Case::kLower));
  return v;
}

Value join_filter(Interp& in, const Value& v, Args& a, Kwargs& kw) {
  const Value* d = arg(a, kw, 0, "d");
  const Value* attr = arg(a, kw, 1, "attribute");
  const Str sep = d ? d->to_str() : Str();
  Str out;
  bool first = true;
  for (const Value& item : iterate(in, v)) {
    if (!first) out.append(sep);
    first = false;
    const Str piece = (attr && !attr->is_none() ? attr_path(in, item, attr->to_str().bytes) : item).to_str();
    in.check_string_size(out.bytes.size() + piece.bytes.size() + sep.bytes.size());
    in.charge(1);
    out.append(piece);
  }
  return Value::string(std::move(out));
}

// select/reject/selectattr/rejectattr: `test_at` is where the test name sits in args.
Value select_filter(Interp& in, const Value& v, Args& a, Kwargs& kw, bool keep_if, bool by_attr) {
  if (!v.truthy()) return Value::list({});  // jinja2 only iterates a truthy sequence
  std::string attr;
  size_t ti = 0;
  if (by_attr) {
    if (a.empty()) in.raise("selectattr/rejectattr need an attribute name");
    attr = a[0].to_str().bytes;
    ti = 1;
  }
  std::string test;
  Args targs;
  if (a.size() > ti) {
    test = a[ti].to_str().bytes;
    targs.assign(a.begin() + static_cast<long>(ti) + 1, a.end());
  }
  Kwargs tkw;
  List out;
  for (const Value& item : iterate(in, v)) {
    const Value x = by_attr ? attr_path(in, item, attr) : item;
    bool ok;
    if (test.empty()) {
      ok = x.truthy();
    } else {
      Args ta = targs;
      ok = apply_test(in, test, x, ta, tkw);
    }
    if (ok == keep_if) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value map_filter(Interp& in, const Value& v, Args& a, Kwargs& kw) {
  List out;
  if (!v.truthy()) return Value::list({});  // jinja2 only iterates a truthy sequence
  const Value* attr = arg({}, kw, 0, "attribute");
  if (attr) {
    const Value* def = arg({}, kw, 0, "default");
    for (const Value& item : iterate(in, v)) {
      Value x = attr_path(in, item, attr->to_str().bytes);
      if (x.is_undefined() && def) x = *def;
      out.push_back(std::move(x));
    }
    return Value::list(std::move(out));
  }
  if (a.empty()) in.raise("map requires a filter name or attribute=");
  const std::string f = a[0].to_str().bytes;
  for (const Value& item : iterate(in, v)) {
    Args fa(a.begin() + 1, a.end());
    Kwargs fkw = kw;
    out.push_back(apply_filter(in, f, item, fa, fkw));
  }
  return Value::list(std::move(out));
}

Value sort_filter(Interp& in, const Value& v, Args& a, Kwargs& kw) {
  const bool rev = flag(a, kw, 0, "reverse");
  const bool cs = flag(a, kw, 1, "case_sensitive");
  const Value* attr = arg(a, kw, 2, "attribute");
  List items = iterate(in, v);
  std::vector<std::pair<Value, size_t>> keyed;
  for (size_t i = 0; i < items.size(); ++i)
    keyed.emplace_back(sort_key(attr ? attr_path(in, items[i], attr->to_str().bytes) : items[i], cs), i);
  // jinja2 sorts by one-element key lists, and Python compares lists by == before <,
  // so equal keys (even two Undefineds) are never ordered.
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    if (x.first.equals(y.first)) return false;
    return rev ? less_than(in, y.first, x.first) : less_than(in, x.first, y.first);
  });
  List out;
  for (const auto& [k, i] : keyed) out.push_back(items[i]);
  return Value::list(std::move(out));
}

Value indent_filter(Interp& in, const Value& v, Args& a, Kwargs& kw) {
  const Value* w = arg(a, kw, 0, "width");
  if (w && !w->is_string() && !w->is_int() && !w->is_bool()) in.raise("indent: width must be an integer or a string");
  const int64_t width = w && !w->is_string() ? std::max<int64_t>(0, w->as_int()) : 4;  // ' ' * -1 == ''
  if (!(w && w->is_string())) in.check_string_size(static_cast<size_t>(std::min<int64_t>(width, INT64_MAX / 2)));
  Str ind = w && w->is_string() ? w->as_str() : Str(std::string(static_cast<size_t>(width), ' '));
  const bool first = flag(a, kw, 1, "first");
  const bool blank = flag(a, kw, 2, "blank");
  if (!v.is_string()) in.raise(std::string("indent: unsupported operand type(s) for +=: '") + v.type_name() + "' and 'str'");
  Str s = v.as_str();
  s.append("\n");  // jinja2 appends a newline so splitlines() sees the last line
  Args none;
  Kwargs nokw;
  const Value lines_v = method(in, Value::string(s), "splitlines");
  const List lines = in.call(lines_v, none, nokw).as_list();
  // The result is the text plus one indent per line: check it before building it.
  if (!ind.bytes.empty() && lines.size() + 1 > (in.limits().max_string_bytes - std::min(in.limits().max_string_bytes, s.bytes.size())) / ind.bytes.size()) {
    in.check_string_size(in.limits().max_string_bytes + 1);
  }
  Str out;
  for (size_t i = 0; i < lines.size(); ++i) {
    const Str& line = lines[i].as_str();
    if (i > 0) {
      out.append("\n");
      if (blank || !line.bytes.empty()) out.append(ind);
    }
    out.append(line);
  }
  if (first) {
    Str r = ind;
    r.append(out);
    return Value::string(std::move(r));
  }
  return Value::string(std::move(out));
}

Value tojson_filter(Interp& in, const Value& v, Args& a, Kwargs& kw) {
  const Value* ea = arg(a, kw, 0, "ensure_ascii");
  const Value* ind = arg(a, kw, 1, "indent");
  const Value* seps = arg(a, kw, 2, "separators");
  const bool sort_keys = flag(a, kw, 3, "sort_keys");
  if (seps && !seps->is_none()) in.raise("tojson: custom separators are not supported");
  int indent = -1;
  if (ind && !ind->is_none()) {
    if (!ind->is_int()) in.raise("tojson: indent must be an integer");
    // Each line repeats the indent once per level: a huge one multiplies the output.
    if (ind->as_int() > 1024) in.raise(cat("tojson: indent ", ind->as_int(), " is out of range (allowed: up to 1024)"));
    indent = static_cast<int>(std::max<int64_t>(0, ind->as_int()));
  }
  Str out;
  py::json_dumps(v, out, indent, sort_keys, ea && ea->truthy());
  return Value::string(std::move(out));
}

// jinja2's do_title: words start after runs of whitespace, '-', '(', '{', '[' or '<';
// each word is word[0].upper() + word[1:].lower() (unlike Python's str.title()).
Value title_filter(const Str& s) {
  Str out;
  const std::string& b = s.bytes;
  bool word_start = true;
  for (size_t i = 0; i < b.size();) {
    const size_t start = i;
    const uint32_t cp = py::next_cp(b, i);
    const bool sep = py::isspace(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<';
    if (sep) {
      out.append(s.slice(start, i));
      word_start = true;
      continue;
    }
    out.append(py::change_case(s.slice(start, i), word_start ? py::Case::kUpper : py::Case::kLower));
    word_start = false;
  }
  return Value::string(std::move(out));
}

Value escape(const Value& v) {
  const Str s = v.to_str();
  Str out;
  for (size_t i = 0; i < s.bytes.size(); ++i) {
    const Origin o = s.origin_at(i);
    switch (s.bytes[i]) {
      case '&': out.append("&amp;", o); break;
      case '<': out.append("&lt;", o); break;
      case '>': out.append("&gt;", o); break;
      case '"': out.append("&#34;", o); break;
      case '\'': out.append("&#39;", o); break;
      default: out.append_char(s.bytes[i], o);
    }
  }
  return Value::string(std::move(out));
}

}  // namespace

Value apply_filter(Interp& in, const std::string& name, const Value& v, Args& a, Kwargs& kw) {
  if (name == "default" || name == "d") {
    const Value* def = arg(a, kw, 0, "default_value");
    const bool boolean = flag(a, kw, 1, "boolean");
    if (v.is_undefined() || (boolean && !v.truthy())) return def ? *def : Value::string("");
    return v;
  }
  if (name == "length" || name == "count") return Value::integer(length(in, v));
  if (name == "tojson") return tojson_filter(in, v, a, kw);
  if (name == "string") return v.is_string() ? v : Value::string(v.to_str());
  if (name == "safe") return v;
  if (name == "trim") {
    const Value* chars = arg(a, kw, 0, "chars");
    return Value::string(py::strip(v.to_str(), chars && !chars->is_none() ? &chars->as_str() : nullptr, true, true));
  }
  if (name == "upper") return Value::string(py::change_case(v.to_str(), py::Case::kUpper));
  if (name == "lower") return Value::string(py::change_case(v.to_str(), py::Case::kLower));
  if (name == "capitalize") return Value::string(py::change_case(v.to_str(), py::Case::kCapitalize));
  if (name == "title") return title_filter(v.to_str());
  if (name == "replace") {
    const Value* o = arg(a, kw, 0, "old");
    const Value* n = arg(a, kw, 1, "new");
    const Value* c = arg(a, kw, 2, "count");
    if (!o || !n) in.raise("replace filter needs old and new");
    const Str sv = v.to_str(), so = o->to_str(), sn = n->to_str();
    const int64_t count = c && !c->is_none() ? c->as_int() : -1;
    in.check_string_size(py::replace_size(sv, so, sn, count));
    return Value::string(py::replace(sv, so, sn, count));
  }
  if (name == "join") return join_filter(in, v, a, kw);
  if (name == "first" || name == "last") {
    const List items = iterate(in, v);
    if (items.empty()) return Value::undefined(name == "first" ? "No first item, sequence was empty." : "No last item, sequence was empty.");
    return name == "first" ? items.front() : items.back();
  }
  if (name == "list") return Value::list(iterate(in, v));
  if (name == "items") {
    if (v.is_undefined()) return Value::list({});
    if (!v.is_map()) in.raise("Can only get item pairs from a mapping.");
    List l;
    for (const auto& [k, x] : v.as_map().entries) l.push_back(Value::list({k, x}, true));
    return Value::list(std::move(l));
  }
  if (name == "select") return select_filter(in, v, a, kw, true, false);
  if (name == "reject") return select_filter(in, v, a, kw, false, false);
  if (name == "selectattr") return select_filter(in, v, a, kw, true, true);
  if (name == "rejectattr") return select_filter(in, v, a, kw, false, true);
  if (name == "map") return map_filter(in, v, a, kw);
  if (name == "attr") {
    if (a.empty()) in.raise("attr filter needs a name");
    return get_attr(in, v, a[0].to_str().bytes);
  }
  if (name == "reverse") {
    if (v.is_string()) {
      Str out;
      const List chars = iterate(in, v);
      for (auto it = chars.rbegin(); it != chars.rend(); ++it) out.append(it->as_str());
      return Value::string(std::move(out));
    }
    List l = iterate(in, v);
    std::reverse(l.begin(), l.end());
    return Value::list(std::move(l));
  }
  if (name == "sort") return sort_filter(in, v, a, kw);
  if (name == "unique") {
    const bool cs = flag(a, kw, 0, "case_sensitive");
    const Value* attr = arg(a, kw, 1, "attribute");
    List out, seen;
    for (const Value& item : iterate(in, v)) {
      const Value k = sort_key(attr ? attr_path(in, item, attr->to_str().bytes) : item, cs);
      require_hashable(in, k);
      in.charge(static_cast<int64_t>(seen.size()) + 1);  // a scan per item: quadratic, so it is paid for
      if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return s.equals(k); })) continue;
      seen.push_back(k);
      out.push_back(item);
    }
    return Value::list(std::move(out));
  }
  if (name == "min" || name == "max") {
    const bool cs = flag(a, kw, 0, "case_sensitive");
    const Value* attr = arg(a, kw, 1, "attribute");
    const List items = iterate(in, v);
    if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
    size_t best = 0;
    for (size_t i = 1; i < items.size(); ++i) {
      const Value ki = sort_key(attr ? attr_path(in, items[i], attr->to_str().bytes) : items[i], cs);
      const Value kb = sort_key(attr ? attr_path(in, items[best], attr->to_str().bytes) : items[best], cs);
      if (name == "min" ? less_than(in, ki, kb) : less_than(in, kb, ki)) best = i;
    }
    return items[best];
  }
  if (name == "sum") {
    const Value* attr = arg(a, kw, 0, "attribute");
    const Value* start = arg(a, kw, 1, "start");
    Value acc = start ? *start : Value::integer(0);
    for (const Value& item : iterate(in, v)) {
      acc = binary_op(in, "+", acc, attr ? attr_path(in, item, attr->to_str().bytes) : item);
      // Each step copies the sum so far (strings and lists): charge for it.
      in.charge(1 + static_cast<int64_t>(acc.is_string() ? acc.as_str().bytes.size() / 64
                                         : acc.is_list()  ? acc.as_list().size()
                                                          : 0));
    }
    return acc;
  }
  if ((name == "int" || name == "float") && v.is_undefined()) {
    in.raise(v.undefined_hint().empty() ? "undefined value" : v.undefined_hint());  // float(Undefined) raises
  }
  if (name == "int") {
    const Value* def = arg(a, kw, 0, "default");
    if (v.is_int() || v.is_bool()) return Value::integer(v.as_int());
    if (v.is_float()) return float_to_int(in, v.as_float());
    if (v.is_string()) {
      const std::string t = py::strip(v.as_str(), nullptr, true, true).bytes;
      char* end = nullptr;
      const long long x = std::strtoll(t.c_str(), &end, 10);
      if (!t.empty() && end && *end == 0) return Value::integer(x);
      const double d = std::strtod(t.c_str(), &end);
      if (!t.empty() && end && *end == 0 && t.find_first_of("xXnN") == std::string::npos) return float_to_int(in, d);
    }
    return def ? *def : Value::integer(0);
  }
  if (name == "float") {
    const Value* def = arg(a, kw, 0, "default");
    if (v.is_number()) return Value::floating(v.as_float());
    if (v.is_string()) {
      const std::string t = py::strip(v.as_str(), nullptr, true, true).bytes;
      char* end = nullptr;
      const double d = std::strtod(t.c_str(), &end);
      if (!t.empty() && end && *end == 0) return Value::floating(d);
    }
    return def ? *def : Value::floating(0.0);
  }
  if (name == "abs") {
    if (!v.is_number()) in.raise(std::string("bad operand type for abs(): '") + v.type_name() + "'");
    if (!v.is_float() && v.as_int() == INT64_MIN) in.raise("integer overflow: values beyond 64 bits are not supported");
    return v.is_float() ? Value::floating(std::fabs(v.as_float())) : Value::integer(std::llabs(v.as_int()));
  }
  if (name == "round") {
    const Value* p = arg(a, kw, 0, "precision");
    const Value* m = arg(a, kw, 1, "method");
    const std::string method = m ? m->to_str().bytes : "common";
    const double scale = std::pow(10.0, p ? static_cast<double>(p->as_int()) : 0.0);
    const double x = v.as_float() * scale;
    const double r = method == "ceil" ? std::ceil(x) : method == "floor" ? std::floor(x) : std::round(x);
    return Value::floating(r / scale);
  }
  if (name == "indent") return indent_filter(in, v, a, kw);
  if (name == "wordcount") {  // len(re.findall(r"\w+", str(value)))
    const std::string s = v.to_str().bytes;
    int64_t n = 0;
    bool in_word = false;
    for (size_t i = 0; i < s.size();) {
      const bool w = py::is_word(py::next_cp(s, i));
      if (w && !in_word) ++n;
      in_word = w;
    }
    return Value::integer(n);
  }
  if (name == "escape" || name == "e" || name == "forceescape") return escape(v);
  if (name == "dictsort") {
    if (!v.is_map()) in.raise("dictsort filter needs a mapping");
    const bool cs = flag(a, kw, 0, "case_sensitive");
    const Value* by = arg(a, kw, 1, "by");
    const bool rev = flag(a, kw, 2, "reverse");
    const int pos = by && by->to_str().bytes == "value" ? 1 : 0;
    List pairs;
    for (const auto& [k, x] : v.as_map().entries) pairs.push_back(Value::list({k, x}, true));
    std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& x, const Value& y) {
      const Value kx = sort_key(x.as_list()[pos], cs), ky = sort_key(y.as_list()[pos], cs);
      return rev ? less_than(in, ky, kx) : less_than(in, kx, ky);
    });
    return Value::list(std::move(pairs));
  }
  in.raise("No filter named '" + name + "'.");
}

bool has_filter(const std::string& name) {
  static const char* const kFilters[] = {"default", "d", "length", "count", "tojson", "string", "safe", "trim",
                                         "upper", "lower", "capitalize", "title", "replace", "join", "first",
                                         "last", "list", "items", "select", "reject", "selectattr", "rejectattr",
                                         "map", "attr", "reverse", "sort", "unique", "min", "max", "sum", "int",
                                         "float", "abs", "round", "indent", "wordcount", "escape", "e",
                                         "forceescape", "dictsort"};
  return std::any_of(std::begin(kFilters), std::end(kFilters), [&](const char* x) { return name == x; });
}

bool has_test(const std::string& name) {
  static const char* const kTests[] = {"defined", "undefined", "none", "boolean", "true", "false", "integer",
                                       "float", "number", "string", "mapping", "iterable", "sequence", "callable",
                                       "sameas", "in", "eq", "equalto", "==", "ne", "!=", "lt", "<", "lessthan",
                                       "le", "<=", "gt", ">", "greaterthan", "ge", ">=", "odd", "even",
                                       "divisibleby", "lower", "upper", "escaped", "filter", "test"};
  return std::any_of(std::begin(kTests), std::end(kTests), [&](const char* t) { return name == t; });
}

bool apply_test(Interp& in, const std::string& n, const Value& v, Args& a, Kwargs& kw) {
  using K = Value::Kind;
  const Value* other = arg(a, kw, 0, "other");
  auto need = [&]() -> const Value& {
    if (!other) in.raise("test '" + n + "' needs an argument");
    return *other;
  };
  if (n == "defined") return !v.is_undefined();
  if (n == "undefined") return v.is_undefined();
  if (n == "none") return v.is_none();
  if (n == "boolean") return v.is_bool();
  if (n == "true") return v.is_bool() && v.as_bool();
  if (n == "false") return v.is_bool() && !v.as_bool();
  if (n == "integer") return v.is_int();
  if (n == "float") return v.is_float();
  if (n == "number") return v.is_number();
  if (n == "string") return v.is_string();
  if (n == "mapping") return v.kind() == K::kMap;
  if (n == "iterable") return v.is_string() || v.is_list() || v.is_map() || v.is_undefined();
  if (n == "sequence") return v.is_string() || v.is_list() || v.kind() == K::kMap || v.is_undefined();
  if (n == "callable") return v.is_callable() || v.is_undefined();  // Undefined defines __call__
  if (n == "sameas") {
    const Value& o = need();
    if (v.kind() != o.kind()) return false;
    if (v.is_none() || v.is_undefined()) return true;
    if (v.is_bool()) return v.as_bool() == o.as_bool();
    if (v.is_int()) return v.as_int() == o.as_int() && v.as_int() >= -5 && v.as_int() <= 256;  // CPython small ints
    return v.same_object(o);
  }
  if (n == "in") return contains(in, need(), v);
  if (n == "eq" || n == "equalto" || n == "==") return v.equals(need());
  if (n == "ne" || n == "!=") return !v.equals(need());
  if (n == "lt" || n == "<" || n == "lessthan") return less_than(in, v, need());
  if (n == "le" || n == "<=") return compare(in, "<=", v, need());
  if (n == "gt" || n == ">" || n == "greaterthan") return less_than(in, need(), v);
  if (n == "ge" || n == ">=") return compare(in, ">=", v, need());
  if (n == "odd" || n == "even" || n == "divisibleby") {  // value % 2 == 1 etc., Python semantics
    const Value d = n == "divisibleby" ? need() : Value::integer(2);
    const Value r = binary_op(in, "%", v, d);
    return n == "odd" ? r.equals(Value::integer(1)) : r.equals(Value::integer(0));
  }
  if (n == "lower" || n == "upper") {  // str(value).islower() / isupper()
    Args none;
    Kwargs nokw;
    return in.call(method(in, Value::string(v.to_str()), n == "lower" ? "islower" : "isupper"), none, nokw).truthy();
  }
  if (n == "escaped") return false;
  if (n == "filter") {
    return has_filter(v.to_str().bytes);
  }
  if (n == "test") return has_test(v.to_str().bytes);
  in.raise("No test named '" + n + "'.");
}

}  // namespace qg::chat::jinja
