// Python/jinja2 semantics of operators and item access on Values: arithmetic,
// comparison, `in`, attribute and item lookup (jinja2's getattr/getitem fallbacks and
// the sandbox's bound methods), slicing by code point, and iteration. Errors are
// raised through the Interp so they carry the template position.
#pragma once

#include <string_view>

#include "chat/jinja/interpreter.h"
#include "chat/value.h"

namespace qg::chat::jinja {

Value binary_op(Interp& in, std::string_view op, const Value& a, const Value& b);
// a < b etc.; raises TypeError-like errors for unorderable types.
bool less_than(Interp& in, const Value& a, const Value& b);
bool compare(Interp& in, std::string_view op, const Value& a, const Value& b);
bool contains(Interp& in, const Value& container, const Value& item);
// Python's TypeError for dict keys / set members that are lists or dicts.
void require_hashable(Interp& in, const Value& v);

// obj.name: Python attribute (bound methods of str/dict/list), then obj["name"].
Value get_attr(Interp& in, const Value& obj, const std::string& name);
// obj[key]: item first, then attribute when key is a string. Missing -> undefined.
Value get_item(Interp& in, const Value& obj, const Value& key);
Value slice(Interp& in, const Value& obj, const Value& start, const Value& stop, const Value& step);

// The items a for-loop or a filter sees: list items, map keys, string characters.
// Undefined iterates as empty; none and numbers raise.
List iterate(Interp& in, const Value& v);
// len(); raises for types without a length.
int64_t length(Interp& in, const Value& v);

// Bound method of a str/dict/list (the methods chat templates call), or undefined.
Value method(Interp& in, const Value& obj, const std::string& name);

// The jinja2 filters and tests (filters.cpp).
Value apply_filter(Interp& in, const std::string& name, const Value& v, Args& args, Kwargs& kwargs);
bool apply_test(Interp& in, const std::string& name, const Value& v, Args& args, Kwargs& kwargs);
bool has_test(const std::string& name);
bool has_filter(const std::string& name);

// Argument helpers shared by filters, methods and builtins: positional `i` or keyword
// `name`, else `def`.
const Value* arg(const Args& args, const Kwargs& kwargs, size_t i, std::string_view name);

}  // namespace qg::chat::jinja
