// Python string/number formatting rules (see pystr.h). Every function keeps byte
// provenance: output bytes derived from a content byte are content.
#include "chat/jinja/pystr.h"

#include <algorithm>
#include <charconv>
#include <cctype>
#include <cmath>
#include <cstring>

#include <utf8proc.h>

#include "base/error.h"

namespace qg::chat::py {

uint32_t next_cp(std::string_view s, size_t& i) {
  const auto c = static_cast<unsigned char>(s[i]);
  int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
  if (i + n > s.size()) n = 1;
  uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
  for (int k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
  i += n;
  return cp;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

size_t cp_count(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xc0) != 0x80;
  return n;
}

std::vector<uint32_t> cp_offsets(std::string_view s) {
  std::vector<uint32_t> off;
  off.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size();) {
    off.push_back(static_cast<uint32_t>(i));
    next_cp(s, i);
  }
  off.push_back(static_cast<uint32_t>(s.size()));
  return off;
}

bool isspace(uint32_t cp) {
  // CPython: bidirectional class WS, B or S, or category Zs.
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x1f);
  switch (cp) {
    case 0x85: case 0xa0: case 0x1680: case 0x2028: case 0x2029: case 0x202f: case 0x205f: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200a;
  }
}

bool isprintable(uint32_t cp) {
  if (cp == ' ') return true;
  if (cp < 0x80) return cp > 0x20 && cp < 0x7f;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO: case UTF8PROC_CATEGORY_CN: case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP: case UTF8PROC_CATEGORY_ZS:
      return false;
    default:
      return true;
  }
}

bool is_word(uint32_t cp) {
  if (cp < 0x80) return cp == '_' || std::isalnum(static_cast<int>(cp));
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

int case_kind(uint32_t cp) {
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LL: return 1;
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LT: return 2;
    default: return 0;
  }
}

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  // Shortest round-trip digits, then CPython's layout rule: fixed notation when the
  // decimal point position is in (-4, 16], else d.ddde+XX.
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  const size_t epos = sci.find('e');
  std::string digits = sci.substr(0, epos);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exp10 = std::stoi(sci.substr(epos + 1));
  const int decpt = exp10 + 1;
  std::string out = neg ? "-" : "";
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out += "0." + std::string(static_cast<size_t>(-decpt), '0') + digits;
    } else if (static_cast<size_t>(decpt) >= digits.size()) {
      out += digits + std::string(decpt - digits.size(), '0') + ".0";
    } else {
      out.append(digits, 0, static_cast<size_t>(decpt));
      out += '.';
      out.append(digits, static_cast<size_t>(decpt), std::string::npos);
    }
  } else {
    out += digits.substr(0, 1);
    if (digits.size() > 1) {
      out += '.';
      out.append(digits, 1, std::string::npos);
    }
    const int e = decpt - 1;
    out += e < 0 ? "e-" : "e+";
    const int ae = e < 0 ? -e : e;
    if (ae < 10) out += '0';
    out += std::to_string(ae);
  }
  return out;
}

void repr_string(const Str& s, Str& out) {
  const std::string& b = s.bytes;
  const bool has_sq = b.find('\'') != std::string::npos;
  const bool has_dq = b.find('"') != std::string::npos;
  const char quote = (has_sq && !has_dq) ? '"' : '\'';
  out.append_char(quote);
  for (size_t i = 0; i < b.size();) {
    const size_t start = i;
    const Origin o = s.origin_at(i);
    const uint32_t cp = next_cp(b, i);
    char esc[16];
    if (cp == static_cast<uint32_t>(quote) || cp == '\\') {
      esc[0] = '\\';
      esc[1] = static_cast<char>(cp);
      out.append(std::string_view(esc, 2), o);
    } else if (cp == '\t') {
      out.append("\\t", o);
    } else if (cp == '\n') {
      out.append("\\n", o);
    } else if (cp == '\r') {
      out.append("\\r", o);
    } else if (isprintable(cp)) {
      out.append(std::string_view(b).substr(start, i - start), o);
    } else {
      if (cp <= 0xff) snprintf(esc, sizeof esc, "\\x%02x", cp);
      else if (cp <= 0xffff) snprintf(esc, sizeof esc, "\\u%04x", cp);
      else snprintf(esc, sizeof esc, "\\U%08x", cp);
      out.append(esc, o);
    }
  }
  out.append_char(quote);
}

static bool in_chars(uint32_t cp, const Str* chars) {
  if (!chars) return isspace(cp);
  const std::string& c = chars->bytes;
  for (size_t i = 0; i < c.size();)
    if (next_cp(c, i) == cp) return true;
  return false;
}

Str strip(const Str& s, const Str* chars, bool left, bool right) {
  const std::string& b = s.bytes;
  size_t begin = 0, end = b.size();
  if (left) {
    while (begin < end) {
      size_t j = begin;
      if (!in_chars(next_cp(b, j), chars)) break;
      begin = j;
    }
  }
  if (right) {
    while (end > begin) {
      size_t k = end - 1;
      while (k > begin && (static_cast<unsigned char>(b[k]) & 0xc0) == 0x80) --k;
      size_t j = k;
      if (!in_chars(next_cp(b, j), chars)) break;
      end = k;
    }
  }
  if (begin == 0 && end == b.size()) return s;
  return s.slice(begin, end);
}

std::vector<Str> split(const Str& s, const Str* sep, int64_t maxsplit, bool from_right) {
  const std::string& b = s.bytes;
  std::vector<Str> parts;
  if (sep) {
    const std::string& p = sep->bytes;
    if (p.empty()) fail("empty separator");
    if (!from_right) {
      size_t pos = 0;
      while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
        const size_t f = b.find(p, pos);
        if (f == std::string::npos) break;
        parts.push_back(s.slice(pos, f));
        pos = f + p.size();
      }
      parts.push_back(s.slice(pos, b.size()));
    } else {
      size_t end = b.size();
      while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
        if (end < p.size()) break;
        const size_t f = b.rfind(p, end - p.size());
        if (f == std::string::npos) break;
        parts.push_back(s.slice(f + p.size(), end));
        end = f;
      }
      parts.push_back(s.slice(0, end));
      std::reverse(parts.begin(), parts.end());
    }
    return parts;
  }
  // Whitespace split: runs of whitespace separate, no empty strings.
  std::vector<std::pair<size_t, size_t>> words;
  for (size_t i = 0; i < b.size();) {
    size_t j = i;
    if (isspace(next_cp(b, j))) {
      i = j;
      continue;
    }
    size_t start = i;
    i = j;
    while (i < b.size()) {
      size_t k = i;
      if (isspace(next_cp(b, k))) break;
      i = k;
    }
    words.emplace_back(start, i);
  }
  if (maxsplit >= 0 && static_cast<int64_t>(words.size()) > maxsplit + 1) {
    // The remainder keeps its inner whitespace (trailing whitespace is stripped).
    if (!from_right) {
      auto rest = std::make_pair(words[maxsplit].first, words.back().second);
      words.resize(maxsplit);
      words.push_back(rest);
    } else {
      const size_t cut = words.size() - maxsplit;
      auto rest = std::make_pair(words.front().first, words[cut - 1].second);
      words.erase(words.begin(), words.begin() + cut);
      words.insert(words.begin(), rest);
    }
  }
  for (auto [a, e] : words) parts.push_back(s.slice(a, e));
  return parts;
}

size_t replace_size(const Str& s, const Str& old, const Str& with, int64_t count) {
  const std::string& b = s.bytes;
  uint64_t n = 0;
  if (old.bytes.empty()) {
    n = cp_count(b) + 1;
  } else {
    for (size_t pos = b.find(old.bytes); pos != std::string::npos; pos = b.find(old.bytes, pos + old.bytes.size())) ++n;
  }
  if (count >= 0 && static_cast<uint64_t>(count) < n) n = static_cast<uint64_t>(count);
  const uint64_t grow = with.bytes.size() > old.bytes.size() ? with.bytes.size() - old.bytes.size() : 0;
  if (grow != 0 && n > (UINT64_MAX - b.size()) / grow) return SIZE_MAX;
  return static_cast<size_t>(b.size() + n * grow);
}

Str replace(const Str& s, const Str& old, const Str& with, int64_t count) {
  const std::string& b = s.bytes;
  Str out;
  if (old.bytes.empty()) {
    // Python inserts `with` before every code point and at the end.
    size_t i = 0;
    int64_t n = 0;
    while (i <= b.size()) {
      if (count >= 0 && n >= count) break;
      out.append(with);
      ++n;
      if (i == b.size()) {
        i = b.size() + 1;
        break;
      }
      size_t j = i;
      next_cp(b, j);
      out.append(s.slice(i, j));
      i = j;
    }
    if (i <= b.size()) out.append(s.slice(i, b.size()));
    return out;
  }
  size_t pos = 0;
  int64_t n = 0;
  while (count < 0 || n < count) {
    const size_t f = b.find(old.bytes, pos);
    if (f == std::string::npos) break;
    out.append(s.slice(pos, f));
    out.append(with);
    pos = f + old.bytes.size();
    ++n;
  }
  out.append(s.slice(pos, b.size()));
  return out;
}

namespace {

struct CaseEntry {
  uint32_t cp;
  uint32_t to[3];
};
#include "chat/jinja/special_casing.inc"

template <size_t N>
const CaseEntry* find_special(const CaseEntry (&table)[N], uint32_t cp) {
  const CaseEntry* it = std::lower_bound(table, table + N, cp, [](const CaseEntry& e, uint32_t v) { return e.cp < v; });
  return it != table + N && it->cp == cp ? it : nullptr;
}

bool cased(uint32_t cp) { return case_kind(cp) != 0; }

// Unicode Case_Ignorable, approximately: marks, format characters, modifiers and the
// word-internal punctuation of Word_Break MidLetter/MidNumLet/Single_Quote.
bool case_ignorable(uint32_t cp) {
  switch (cp) {
    case '\'': case '.': case ':': case '^': case '`': case 0xad: case 0xb7: case 0x387: case 0x5f4: case 0x2018:
    case 0x2019: case 0x2024: case 0x2027: case 0xfe13: case 0xfe52: case 0xfe55: case 0xff07: case 0xff0e: case 0xff1a:
      return true;
    default: break;
  }
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_SK:
      return true;
    default:
      return false;
  }
}

// CPython's final-sigma rule for str.lower(): capital sigma at the end of a word
// (a cased letter before it, none after it, skipping case-ignorables) becomes 'ς'.
bool final_sigma(const std::vector<uint32_t>& cps, size_t i) {
  size_t j = i;
  bool before = false;
  while (j > 0) {
    const uint32_t c = cps[--j];
    if (case_ignorable(c)) continue;
    before = cased(c);
    break;
  }
  if (!before) return false;
  for (size_t k = i + 1; k < cps.size(); ++k) {
    if (case_ignorable(cps[k])) continue;
    return !cased(cps[k]);
  }
  return true;
}

void append_mapped(std::string& out, uint32_t cp, Case c) {
  const CaseEntry* e = c == Case::kUpper ? find_special(kUpperSpecial, cp)
                       : c == Case::kLower ? find_special(kLowerSpecial, cp)
                                           : find_special(kTitleSpecial, cp);
  if (e) {
    for (uint32_t x : e->to)
      if (x) append_utf8(out, x);
    return;
  }
  const auto v = static_cast<utf8proc_int32_t>(cp);
  const utf8proc_int32_t m = c == Case::kUpper ? utf8proc_toupper(v) : c == Case::kLower ? utf8proc_tolower(v) : utf8proc_totitle(v);
  append_utf8(out, static_cast<uint32_t>(m));
}

}  // namespace

Str change_case(const Str& s, Case c) {
  const std::string& b = s.bytes;
  std::vector<uint32_t> cps;
  std::vector<size_t> starts;
  for (size_t i = 0; i < b.size();) {
    starts.push_back(i);
    cps.push_back(next_cp(b, i));
  }
  starts.push_back(b.size());
  Str out;
  bool prev_cased = false;  // title(): was the previous character cased?
  std::string enc;
  for (size_t k = 0; k < cps.size(); ++k) {
    const uint32_t cp = cps[k];
    Case want = c;
    if (c == Case::kCapitalize) want = k == 0 ? Case::kTitle : Case::kLower;
    if (c == Case::kTitle) want = prev_cased ? Case::kLower : Case::kTitle;
    prev_cased = cased(cp);
    enc.clear();
    if (want == Case::kLower && cp == 0x3a3) append_utf8(enc, final_sigma(cps, k) ? 0x3c2 : 0x3c3);
    else append_mapped(enc, cp, want);
    // A byte of the result is content when the character it came from was.
    out.append(enc, s.origin_at(starts[k]));
  }
  return out;
}

static void json_string(const Str& s, Str& out, bool ensure_ascii) {
  out.append_char('"');
  const std::string& b = s.bytes;
  for (size_t i = 0; i < b.size();) {
    const size_t start = i;
    const Origin o = s.origin_at(i);
    const uint32_t cp = next_cp(b, i);
    char esc[16];
    switch (cp) {
      case '"': out.append("\\\"", o); continue;
      case '\\': out.append("\\\\", o); continue;
      case '\n': out.append("\\n", o); continue;
      case '\r': out.append("\\r", o); continue;
      case '\t': out.append("\\t", o); continue;
      case '\b': out.append("\\b", o); continue;
      case '\f': out.append("\\f", o); continue;
      default: break;
    }
    if (cp < 0x20 || (ensure_ascii && cp >= 0x7f)) {
      if (cp >= 0x10000) {
        const uint32_t v = cp - 0x10000;
        snprintf(esc, sizeof esc, "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
      } else {
        snprintf(esc, sizeof esc, "\\u%04x", cp);
      }
      out.append(esc, o);
    } else {
      out.append(std::string_view(b).substr(start, i - start), o);
    }
  }
  out.append_char('"');
}

static void newline_indent(Str& out, int indent, int level) {
  out.append_char('\n');
  out.append(std::string(static_cast<size_t>(indent) * level, ' '));
}

static void json_rec(const Value& v, Str& out, int indent, bool sort_keys, bool ensure_ascii, int level) {
  switch (v.kind()) {
    case Value::Kind::kNone: out.append("null", v.scalar_origin()); return;
    case Value::Kind::kBool: out.append(v.as_bool() ? "true" : "false", v.scalar_origin()); return;
    case Value::Kind::kInt: out.append(std::to_string(v.as_int()), v.scalar_origin()); return;
    case Value::Kind::kFloat: {
      const double d = v.as_float();
      // json.dumps spells non-finite floats as JavaScript does.
      const std::string t = std::isnan(d) ? "NaN" : std::isinf(d) ? (d < 0 ? "-Infinity" : "Infinity") : float_repr(d);
      out.append(t, v.scalar_origin());
      return;
    }
    case Value::Kind::kString: json_string(v.as_str(), out, ensure_ascii); return;
    case Value::Kind::kList: {
      const List& l = v.as_list();
      if (l.empty()) {
        out.append("[]");
        return;
      }
      out.append_char('[');
      for (size_t k = 0; k < l.size(); ++k) {
        if (k) out.append(indent >= 0 ? "," : ", ");
        if (out.bytes.size() > kMaxReprBytes) fail("tojson: output larger than ", kMaxReprBytes >> 20, " MiB");
        if (indent >= 0) newline_indent(out, indent, level + 1);
        json_rec(l[k], out, indent, sort_keys, ensure_ascii, level + 1);
      }
      if (indent >= 0) newline_indent(out, indent, level);
      out.append_char(']');
      return;
    }
    case Value::Kind::kMap:
    case Value::Kind::kNamespace: {
      std::vector<const std::pair<Value, Value>*> items;
      for (const auto& e : v.as_map().entries) items.push_back(&e);
      if (items.empty()) {
        out.append("{}");
        return;
      }
      if (sort_keys)
        std::stable_sort(items.begin(), items.end(), [](auto* a, auto* b) {
          return a->first.to_str().bytes < b->first.to_str().bytes;
        });
      out.append_char('{');
      bool firstk = true;
      for (const auto* e : items) {
        if (!firstk) out.append(indent >= 0 ? "," : ", ");
        firstk = false;
        if (out.bytes.size() > kMaxReprBytes) fail("tojson: output larger than ", kMaxReprBytes >> 20, " MiB");
        if (indent >= 0) newline_indent(out, indent, level + 1);
        const Value& k = e->first;
        // json.dumps coerces non-string keys: True -> "true", 1 -> "1", None -> "null".
        if (k.is_string()) {
          json_string(k.as_str(), out, ensure_ascii);
        } else {
          Str ks;
          json_rec(k, ks, -1, false, ensure_ascii, 0);
          out.append_char('"');
          out.append(ks);
          out.append_char('"');
        }
        out.append(": ");
        json_rec(e->second, out, indent, sort_keys, ensure_ascii, level + 1);
      }
      if (indent >= 0) newline_indent(out, indent, level);
      out.append_char('}');
      return;
    }
    case Value::Kind::kUndefined: fail("Object of type Undefined is not JSON serializable");
    case Value::Kind::kCallable: fail("Object of type function is not JSON serializable");
  }
}

void json_dumps(const Value& v, Str& out, int indent, bool sort_keys, bool ensure_ascii) {
  json_rec(v, out, indent, sort_keys, ensure_ascii, 0);
}

}  // namespace qg::chat::py
