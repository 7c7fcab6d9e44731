// Value and Str: construction, Python truthiness/equality/str()/repr(), and the JSON
// import that marks caller data as content.
#include "chat/value.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "chat/jinja/pystr.h"

namespace qg::chat {

// ---- Str ----

Str::Str(std::string b, Origin origin) : bytes(std::move(b)) {
  if (origin == Origin::kContent && !bytes.empty()) content.push_back({0, static_cast<uint32_t>(bytes.size())});
}

static void add_span(std::vector<Str::Span>& spans, uint32_t b, uint32_t e) {
  if (b >= e) return;
  if (!spans.empty() && spans.back().end == b) {
    spans.back().end = e;
  } else {
    spans.push_back({b, e});
  }
}

void Str::append(const Str& other) {
  const auto base = static_cast<uint32_t>(bytes.size());
  bytes += other.bytes;
  for (const Span& s : other.content) add_span(content, base + s.begin, base + s.end);
}

void Str::append(std::string_view b, Origin origin) {
  const auto base = static_cast<uint32_t>(bytes.size());
  bytes.append(b);
  if (origin == Origin::kContent) add_span(content, base, static_cast<uint32_t>(bytes.size()));
}

void Str::append_char(char c, Origin origin) { append(std::string_view(&c, 1), origin); }

Str Str::slice(size_t b, size_t e) const {
  Str out;
  if (e <= b) return out;
  out.bytes.assign(bytes, b, e - b);
  for (const Span& s : content) {
    const size_t lo = std::max<size_t>(s.begin, b), hi = std::min<size_t>(s.end, e);
    if (lo < hi) add_span(out.content, static_cast<uint32_t>(lo - b), static_cast<uint32_t>(hi - b));
  }
  return out;
}

Origin Str::origin_at(size_t i) const {
  for (const Span& s : content) {
    if (i < s.begin) break;
    if (i < s.end) return Origin::kContent;
  }
  return Origin::kTemplate;
}

Segments Str::to_segments() const {
  Segments segs;
  size_t pos = 0;
  for (const Span& s : content) {
    if (s.begin > pos) segs.push_back({bytes.substr(pos, s.begin - pos), Origin::kTemplate});
    segs.push_back({bytes.substr(s.begin, s.end - s.begin), Origin::kContent});
    pos = s.end;
  }
  if (pos < bytes.size()) segs.push_back({bytes.substr(pos), Origin::kTemplate});
  return segs;
}

// ---- Map ----

const Value* Map::find(std::string_view key) const {
  for (const auto& [k, v] : entries)
    if (k.is_string() && k.as_str().bytes == key) return &v;
  return nullptr;
}

const Value* Map::find(const Value& key) const {
  if (key.is_string()) return find(key.as_str().bytes);
  for (const auto& [k, v] : entries)
    if (k.equals(key)) return &v;
  return nullptr;
}

void Map::set(Value key, Value v) {
  for (auto& e : entries) {
    if (e.first.equals(key)) {
      e.second = std::move(v);
      return;
    }
  }
  entries.emplace_back(std::move(key), std::move(v));
}

// ---- Value ----

Value Value::undefined(std::string hint) {
  Value v;
  if (!hint.empty()) v.ptr_ = std::make_shared<std::string>(std::move(hint));
  return v;
}

const std::string& Value::undefined_hint() const {
  static const std::string kEmpty;
  return ptr_ ? *static_cast<const std::string*>(ptr_.get()) : kEmpty;
}

Value Value::none() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}

Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.b_ = b;
  return v;
}

Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = Kind::kInt;
  v.i_ = i;
  return v;
}

Value Value::floating(double d) {
  Value v;
  v.kind_ = Kind::kFloat;
  v.d_ = d;
  return v;
}

Value Value::string(Str s) {
  Value v;
  v.kind_ = Kind::kString;
  v.ptr_ = std::make_shared<const Str>(std::move(s));
  return v;
}

Value Value::string(std::string s, Origin origin) { return string(Str(std::move(s), origin)); }

template <typename It>
void Value::set_nesting(It begin, It end) {
  int d = 0;
  bool ns = false;
  for (It it = begin; it != end; ++it) {
    const Value& x = *it;
    d = std::max(d, static_cast<int>(x.depth_));
    ns |= x.has_ns_;
  }
  if (d + 1 > kMaxValueDepth) {
    fail("a list or dict nested deeper than ", kMaxValueDepth, " levels (the limit on value nesting)");
  }
  depth_ = static_cast<uint16_t>(d + 1);
  has_ns_ = ns || kind_ == Kind::kNamespace;
}

namespace {
// Adapts a Map's entries to an iterator over values (keys are scalars or strings).
struct MapValues {
  std::vector<std::pair<Value, Value>>::const_iterator it;
  const Value& operator*() const { return it->second; }
  MapValues& operator++() {
    ++it;
    return *this;
  }
  bool operator!=(const MapValues& o) const { return it != o.it; }
};
}  // namespace

Value Value::list(List items, bool is_tuple) {
  Value v;
  v.kind_ = Kind::kList;
  v.tuple_ = is_tuple;
  v.set_nesting(items.begin(), items.end());
  v.ptr_ = std::make_shared<const List>(std::move(items));
  return v;
}

Value Value::map(Map m) {
  Value v;
  v.kind_ = Kind::kMap;
  v.set_nesting(MapValues{m.entries.begin()}, MapValues{m.entries.end()});
  v.ptr_ = std::make_shared<const Map>(std::move(m));
  return v;
}

Value Value::ns(Map m) {
  Value v;
  v.kind_ = Kind::kNamespace;
  for (const auto& e : m.entries) {
    if (e.second.has_ns_) fail("a namespace cannot hold another namespace");
  }
  v.set_nesting(MapValues{m.entries.begin()}, MapValues{m.entries.end()});
  // Attributes set later may be deeper than the initial ones: count a namespace as
  // deep as anything it could hold, so lists of namespaces stay within the limit.
  v.depth_ = std::max(v.depth_, static_cast<uint16_t>(kMaxValueDepth / 2));
  v.ptr_ = std::make_shared<Map>(std::move(m));
  return v;
}

Value Value::callable(std::string name, NativeFn fn) {
  Value v;
  v.kind_ = Kind::kCallable;
  v.ptr_ = std::make_shared<const Callable>(Callable{std::move(name), std::move(fn)});
  return v;
}

Value Value::from_json(const nlohmann::json& j, Origin origin) { return from_json_impl(j, origin, 0); }
Value Value::from_json(const nlohmann::ordered_json& j, Origin origin) { return from_json_impl(j, origin, 0); }

template <typename Json>
Value Value::from_json_impl(const Json& j, Origin origin, int depth) {
  using json_t = nlohmann::json::value_t;
  // Checked before recursing (Value::list would refuse the result anyway, too late for
  // the stack).
  if (depth >= kMaxValueDepth) fail("JSON value nested deeper than ", kMaxValueDepth, " levels");
  Value v;
  switch (j.type()) {
    case json_t::null: v = none(); break;
    case json_t::boolean: v = boolean(j.template get<bool>()); break;
    case json_t::number_integer: v = integer(j.template get<int64_t>()); break;
    case json_t::number_unsigned: {
      const uint64_t u = j.template get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) fail("JSON integer ", u, " does not fit in 64 bits");
      v = integer(static_cast<int64_t>(u));
      break;
    }
    case json_t::number_float: v = floating(j.template get<double>()); break;
    case json_t::string: return string(j.template get<std::string>(), origin);
    case json_t::array: {
      List items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(from_json_impl(e, origin, depth + 1));
      return list(std::move(items));
    }
    case json_t::object: {
      Map m;
      m.entries.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it)
        m.entries.emplace_back(string(it.key(), origin), from_json_impl(it.value(), origin, depth + 1));
      return map(std::move(m));
    }
    default: fail("JSON value of unsupported type (binary or discarded)");
  }
  v.content_ = origin == Origin::kContent;
  return v;
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::kUndefined: case Kind::kNone: return false;
    case Kind::kBool: return b_;
    case Kind::kInt: return i_ != 0;
    case Kind::kFloat: return d_ != 0.0;
    case Kind::kString: return !as_str().bytes.empty();
    case Kind::kList: return !as_list().empty();
    case Kind::kMap: return !as_map().entries.empty();
    case Kind::kNamespace: case Kind::kCallable: return true;
  }
  return false;
}

bool Value::equals(const Value& o) const {
  int64_t budget = kMaxCompareSteps;
  return equals_impl(o, budget);
}

bool Value::equals_impl(const Value& o, int64_t& budget) const {
  if (--budget < 0) fail("comparison of values too large (more than ", kMaxCompareSteps, " elements)");
  if (is_number() && o.is_number()) {
    if (kind_ == Kind::kFloat || o.kind_ == Kind::kFloat) return as_float() == o.as_float();
    return as_int() == o.as_int();
  }
  if (kind_ != o.kind_) return false;
  switch (kind_) {
    case Kind::kUndefined: case Kind::kNone: return true;
    case Kind::kString: return as_str().bytes == o.as_str().bytes;
    case Kind::kList: {
      // Python: a tuple never equals a list.
      if (tuple_ != o.tuple_) return false;
      const List &a = as_list(), &b = o.as_list();
      if (a.size() != b.size()) return false;
      for (size_t i = 0; i < a.size(); ++i)
        if (!a[i].equals_impl(b[i], budget)) return false;
      return true;
    }
    case Kind::kMap: {
      const Map &a = as_map(), &b = o.as_map();
      if (a.entries.size() != b.entries.size()) return false;
      for (const auto& [k, v] : a.entries) {
        const Value* w = b.find(k);
        if (!w || !v.equals_impl(*w, budget)) return false;
      }
      return true;
    }
    default: return ptr_ == o.ptr_;
  }
}

Str Value::to_str() const {
  switch (kind_) {
    case Kind::kUndefined: return Str();
    case Kind::kString: return as_str();
    case Kind::kNone: return Str("None", scalar_origin());
    case Kind::kBool: return Str(b_ ? "True" : "False", scalar_origin());
    case Kind::kInt: return Str(std::to_string(i_), scalar_origin());
    case Kind::kFloat: return Str(py::float_repr(d_), scalar_origin());
    default: {
      Str out;
      repr_into(out);
      return out;
    }
  }
}

void Value::repr_into(Str& out) const {
  switch (kind_) {
    case Kind::kString: py::repr_string(as_str(), out); return;
    case Kind::kUndefined: out.append("Undefined"); return;
    case Kind::kList: {
      const List& l = as_list();
      out.append_char(tuple_ ? '(' : '[');
      for (size_t i = 0; i < l.size(); ++i) {
        if (i) out.append(", ");
        if (out.bytes.size() > kMaxReprBytes) fail("printed value larger than ", kMaxReprBytes >> 20, " MiB");
        l[i].repr_into(out);
      }
      if (tuple_ && l.size() == 1) out.append_char(',');
      out.append_char(tuple_ ? ')' : ']');
      return;
    }
    case Kind::kMap:
    case Kind::kNamespace: {
      // A namespace prints as jinja2's Namespace does: its dict wrapped in <Namespace ...>.
      const bool ns = kind() == Kind::kNamespace;
      out.append(ns ? "<Namespace {" : "{");
      bool first = true;
      for (const auto& [k, v] : as_map().entries) {
        if (!first) out.append(", ");
        first = false;
        if (out.bytes.size() > kMaxReprBytes) fail("printed value larger than ", kMaxReprBytes >> 20, " MiB");
        k.repr_into(out);
        out.append(": ");
        v.repr_into(out);
      }
      out.append(ns ? "}>" : "}");
      return;
    }
    case Kind::kCallable: out.append("<function " + as_callable().name + ">"); return;
    default: out.append(to_str()); return;
  }
}

const char* Value::type_name() const {
  switch (kind_) {
    case Kind::kUndefined: return "Undefined";
    case Kind::kNone: return "NoneType";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kList: return tuple_ ? "tuple" : "list";
    case Kind::kMap: return "dict";
    case Kind::kNamespace: return "Namespace";
    case Kind::kCallable: return "function";
  }
  return "object";
}

}  // namespace qg::chat
