// The value type of the Jinja interpreter (qg::chat::Value) and the provenance-carrying
// string it is built on (qg::chat::Str).
//
// Values follow Python semantics, because the reference renderer is Python jinja2:
// undefined/none/bool/int/float/string/list (or tuple)/map (insertion-ordered, like a
// Python dict)/namespace/callable. Lists and maps are immutable once built (transformers
// uses the *immutable* sandbox, so templates cannot mutate them) and shared by pointer, so
// copying a Value is cheap. A namespace() is the one mutable container.
//
// Provenance: every string records which of its byte ranges came from the caller's data
// (messages, tools, documents) rather than from template literals. Filters, slicing and
// concatenation carry those ranges along, so the rendered prompt can tell the tokenizer
// which bytes must never be matched as special tokens.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/segment.h"

namespace qg::chat {

// A UTF-8 byte string plus the [begin, end) byte ranges that are caller content.
// `content` is sorted, disjoint and never holds two touching ranges.
struct Str {
  struct Span {
    uint32_t begin, end;
  };
  std::string bytes;
  std::vector<Span> content;

  Str() = default;
  explicit Str(std::string b, Origin origin = Origin::kTemplate);

  void append(const Str& other);
  void append(std::string_view b, Origin origin = Origin::kTemplate);
  void append_char(char c, Origin origin = Origin::kTemplate);
  // Bytes [b, e) with their provenance.
  Str slice(size_t b, size_t e) const;
  // Origin of byte i (kContent when inside a content range).
  Origin origin_at(size_t i) const;
  bool any_content() const { return !content.empty(); }
  Segments to_segments() const;
};

class Value;
namespace jinja {
class Interp;
}

using List = std::vector<Value>;
// Insertion-ordered mapping, like a Python dict. Templates build small ones, and
// messages have a handful of keys, so a flat vector beats hashing here.
struct Map {
  std::vector<std::pair<Value, Value>> entries;
  const Value* find(std::string_view key) const;
  const Value* find(const Value& key) const;
  void set(Value key, Value v);  // replaces an existing key in place (dict semantics)
};

using Args = std::vector<Value>;
using Kwargs = std::vector<std::pair<std::string, Value>>;
// A builtin function, bound method or macro. `interp` gives access to rendering state
// (for macros, errors and caller frames).
using NativeFn = std::function<Value(jinja::Interp& interp, Args& args, Kwargs& kwargs)>;
struct Callable {
  std::string name;
  NativeFn fn;
};

// Lists, maps and namespaces nest at most this deep. Printing, comparing, tojson and
// destroying a value recurse, so this bounds their C++ stack; Value::list / map throw
// qg::Error when a result would be deeper. A real template nests 3 or 4 levels.
inline constexpr int kMaxValueDepth = 256;
// Bytes that printing (str/repr) or tojson may produce for one value, and element pairs
// one == may visit. Lists share their items by pointer, so `[x] * n` with a large x is
// cheap to build but enormous to print or compare; these stop that work early.
inline constexpr size_t kMaxReprBytes = size_t{64} << 20;
inline constexpr int64_t kMaxCompareSteps = 100'000'000;

class Value {
 public:
  enum class Kind : uint8_t { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kMap, kNamespace, kCallable };

  Value() = default;  // undefined
  static Value undefined(std::string hint = {});
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value floating(double d);
  static Value string(Str s);
  static Value string(std::string s, Origin origin = Origin::kTemplate);
  static Value list(List items, bool is_tuple = false);
  static Value map(Map m);
  static Value ns(Map m);
  static Value callable(std::string name, NativeFn fn);
  // JSON -> Value. Strings (keys included) and scalars take `origin`: data from the
  // caller (messages, tools) is kContent, so its bytes stay marked through rendering.
  // Parse with nlohmann::ordered_json to keep the caller's key order, as Python does.
  static Value from_json(const nlohmann::json& j, Origin origin = Origin::kContent);
  static Value from_json(const nlohmann::ordered_json& j, Origin origin = Origin::kContent);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat || kind_ == Kind::kBool; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_tuple() const { return kind_ == Kind::kList && tuple_; }
  bool is_map() const { return kind_ == Kind::kMap || kind_ == Kind::kNamespace; }
  bool is_namespace() const { return kind_ == Kind::kNamespace; }
  bool is_callable() const { return kind_ == Kind::kCallable; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return kind_ == Kind::kBool ? (b_ ? 1 : 0) : i_; }  // bool is an int in Python
  double as_float() const { return kind_ == Kind::kFloat ? d_ : static_cast<double>(as_int()); }
  const Str& as_str() const { return *static_cast<const Str*>(ptr_.get()); }
  const List& as_list() const { return *static_cast<const List*>(ptr_.get()); }
  const Map& as_map() const { return *static_cast<const Map*>(ptr_.get()); }
  Map& mutable_namespace() const { return *const_cast<Map*>(static_cast<const Map*>(ptr_.get())); }
  const Callable& as_callable() const { return *static_cast<const Callable*>(ptr_.get()); }
  const std::string& undefined_hint() const;
  // Scalars read from caller data print as content.
  Origin scalar_origin() const { return content_ ? Origin::kContent : Origin::kTemplate; }
  bool same_object(const Value& o) const { return ptr_ == o.ptr_; }
  // Container nesting (0 for scalars and strings, 1 for a flat list), and whether a
  // namespace is inside. A namespace may not hold a namespace (see Interp, set): that
  // keeps the one mutable container from forming cycles or unbounded depth.
  int depth() const { return depth_; }
  bool holds_namespace() const { return has_ns_; }

  // Python truthiness; undefined is false.
  bool truthy() const;
  // Python ==.
  bool equals(const Value& o) const;
  // Python str(x) as jinja2 prints it ({{ x }}); undefined prints as "".
  Str to_str() const;
  // Python repr(x) (used for items inside printed lists and dicts).
  void repr_into(Str& out) const;
  const char* type_name() const;  // Python type name for messages: 'str', 'dict', ...

 private:
  Kind kind_ = Kind::kUndefined;
  bool tuple_ = false;
  bool content_ = false;
  bool has_ns_ = false;  // this is, or contains, a namespace
  uint16_t depth_ = 0;   // container nesting, at most kMaxValueDepth
  union {
    bool b_;
    int64_t i_ = 0;
    double d_;
  };
  bool equals_impl(const Value& o, int64_t& budget) const;
  template <typename Json>
  static Value from_json_impl(const Json& j, Origin origin, int depth);
  // Sets depth_ / has_ns_ from the children; throws past kMaxValueDepth.
  template <typename It>
  void set_nesting(It begin, It end);
  std::shared_ptr<const void> ptr_;  // Str / List / Map / Callable / undefined hint (std::string)
};

}  // namespace qg::chat
