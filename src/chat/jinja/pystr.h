// Python string and number semantics the interpreter needs to match jinja2 byte for
// byte: code-point indexing of UTF-8, str.isspace(), repr() of floats and strings,
// str.strip()/split(), case mapping, and json.dumps() as transformers' tojson calls it.
// Hand-written because no library reproduces CPython's exact formatting rules; the
// Unicode tables come from utf8proc.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "chat/value.h"

namespace qg::chat::py {

// Decodes the code point at bytes[i] and advances i. Invalid bytes decode as themselves
// (our strings come from JSON and template source, which are valid UTF-8).
uint32_t next_cp(std::string_view s, size_t& i);
void append_utf8(std::string& out, uint32_t cp);
size_t cp_count(std::string_view s);
// Byte offset of every code point plus a final entry for the end (size cp_count + 1).
std::vector<uint32_t> cp_offsets(std::string_view s);
inline bool is_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

bool isspace(uint32_t cp);      // str.isspace() for one code point
bool isprintable(uint32_t cp);  // str.isprintable() for one code point
bool is_word(uint32_t cp);
int case_kind(uint32_t cp);     // 0 uncased, 1 lowercase, 2 uppercase or titlecase      // matches the regex \w (str.isalnum() or '_')

std::string float_repr(double d);  // repr(float): '1.0', '1e+20', '0.1', 'inf', 'nan'
void repr_string(const Str& s, Str& out);  // repr(str) with Python's quote choice and escapes

// str.strip(chars)/lstrip/rstrip; `chars` null means whitespace.
Str strip(const Str& s, const Str* chars, bool left, bool right);
// str.split(sep, maxsplit) / rsplit; null sep splits on whitespace runs.
std::vector<Str> split(const Str& s, const Str* sep, int64_t maxsplit, bool from_right);
Str replace(const Str& s, const Str& old, const Str& with, int64_t count);
// An upper bound on the size of replace(...)'s result, computed without building it.
size_t replace_size(const Str& s, const Str& old, const Str& with, int64_t count);
// str.upper()/lower()/title()/capitalize() via utf8proc's simple case mappings.
enum class Case { kUpper, kLower, kTitle, kCapitalize };
Str change_case(const Str& s, Case c);

// json.dumps(v, ensure_ascii=False, indent=indent, separators=None, sort_keys=...) -- the
// tojson filter transformers installs. indent < 0 means None. Throws on undefined or
// callables, as Python's encoder does.
void json_dumps(const Value& v, Str& out, int indent, bool sort_keys, bool ensure_ascii = false);

}  // namespace qg::chat::py
