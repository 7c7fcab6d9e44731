// Jinja lexer (see lexer.h). The structure follows jinja2's tokeniter: a root state
// that cuts text at the earliest `{{`, `{%` or `{#` and applies the lstrip/`-` rules to
// that text, and tag states that read expression tokens up to the matching end tag,
// which (for blocks and comments) also swallows one newline because trim_blocks is on.
#include "chat/jinja/lexer.h"

#include <algorithm>
#include <cstring>

#include "base/error.h"
#include "chat/jinja/pystr.h"

namespace qg::chat::jinja {

void Source::locate(uint32_t pos, int& line, int& col) const {
  auto it = std::upper_bound(line_starts.begin(), line_starts.end(), pos);
  const size_t idx = static_cast<size_t>(it - line_starts.begin()) - 1;
  line = static_cast<int>(idx) + 1;
  col = static_cast<int>(py::cp_count(std::string_view(text).substr(line_starts[idx], pos - line_starts[idx]))) + 1;
}

std::string Source::where(uint32_t pos) const {
  int line, col;
  locate(pos, line, col);
  return cat(name, ":", line, ":", col);
}

Source make_source(std::string text, std::string name) {
  Source s;
  s.name = std::move(name);
  std::string& t = s.text;
  t.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      t += '\n';
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else {
      t += text[i];
    }
  }
  if (!t.empty() && t.back() == '\n') t.pop_back();  // keep_trailing_newline=False
  s.line_starts.push_back(0);
  for (size_t i = 0; i < t.size(); ++i)
    if (t[i] == '\n') s.line_starts.push_back(static_cast<uint32_t>(i + 1));
  return s;
}

namespace {

// Python's str.isspace over UTF-8, for the `\s` of jinja2's regexes.
size_t skip_space(std::string_view s, size_t i) {
  while (i < s.size()) {
    size_t j = i;
    if (!py::isspace(py::next_cp(s, j))) break;
    i = j;
  }
  return i;
}

size_t rstrip_len(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t k = end - 1;
    while (k > 0 && (static_cast<unsigned char>(s[k]) & 0xc0) == 0x80) --k;
    size_t j = k;
    if (!py::isspace(py::next_cp(s, j))) break;
    end = k;
  }
  return end;
}

bool all_space(std::string_view s) { return !s.empty() && skip_space(s, 0) == s.size(); }

// Python 'unicode-escape' decoding of a string literal's body (jinja2 does
// value.encode("ascii", "backslashreplace").decode("unicode-escape")).
std::string unescape(std::string_view body, const Source& src, uint32_t pos) {
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c != '\\' || i + 1 >= body.size()) {
      out += c;
      continue;
    }
    const char e = body[++i];
    auto hex = [&](int n) {
      uint32_t v = 0;
      for (int k = 0; k < n; ++k) {
        if (i + 1 >= body.size() || !std::isxdigit(static_cast<unsigned char>(body[i + 1])))
          fail(src.where(pos), ": truncated \\x/\\u escape in string literal");
        const char h = body[++i];
        v = v * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
      }
      return v;
    };
    switch (e) {
      case '\n': break;  // line continuation
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case 'x': py::append_utf8(out, hex(2)); break;
      case 'u': py::append_utf8(out, hex(4)); break;
      case 'U': py::append_utf8(out, hex(8)); break;
      default:
        if (e >= '0' && e <= '7') {
          uint32_t v = static_cast<uint32_t>(e - '0');
          for (int k = 0; k < 2 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7'; ++k)
            v = v * 8 + static_cast<uint32_t>(body[++i] - '0');
          py::append_utf8(out, v);
        } else {
          out += '\\';  // unknown escapes stay as written
          out += e;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(const Source& src) : src_(src), s_(src.text) {}

  std::vector<Token> run() {
    size_t pos = 0;
    bool line_starting = true;
    while (pos < s_.size()) {
      const size_t tag = find_tag(pos);
      if (tag == std::string::npos) {
        emit(Tok::kData, std::string(s_.substr(pos)), pos);
        break;
      }
      const char kind = s_[tag + 1];  // '{', '%' or '#'
      char sign = tag + 2 < s_.size() ? s_[tag + 2] : 0;
      if (sign != '-' && sign != '+') sign = 0;
      std::string_view text = s_.substr(pos, tag - pos);
      if (sign == '-') {
        text = text.substr(0, rstrip_len(text));
      } else if (sign != '+' && kind != '{') {
        const size_t nl = text.rfind('\n');
        const size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
        if ((l_pos > 0 || line_starting) && all_space(text.substr(l_pos))) text = text.substr(0, l_pos);
      }
      if (!text.empty()) emit(Tok::kData, std::string(text), pos);
      size_t p = tag + 2 + (sign ? 1 : 0);
      if (kind == '#') {
        pos = end_comment(p, tag);
      } else if (kind == '%' && is_raw(p, &p)) {
        pos = raw_body(p, tag);
      } else {
        emit(kind == '{' ? Tok::kVarBegin : Tok::kBlockBegin, "", tag);
        pos = tag_body(p, kind == '%', tag);
      }
      line_starting = pos > 0 && s_[pos - 1] == '\n';
    }
    emit(Tok::kEof, "", static_cast<uint32_t>(s_.size()));
    return std::move(toks_);
  }

 private:
  void emit(Tok t, std::string text, size_t pos) { toks_.push_back({t, std::move(text), static_cast<uint32_t>(pos)}); }

  size_t find_tag(size_t from) const {
    for (size_t i = s_.find('{', from); i != std::string::npos; i = s_.find('{', i + 1)) {
      if (i + 1 < s_.size() && (s_[i + 1] == '{' || s_[i + 1] == '%' || s_[i + 1] == '#')) return i;
    }
    return std::string::npos;
  }

  // After a block end: `+%}` keeps everything, `-%}` eats all whitespace, `%}` eats one \n.
  size_t after_end(size_t p, char sign, size_t close_len) const {
    p += close_len;
    if (sign == '-') return skip_space(s_, p);
    if (sign == 0 && p < s_.size() && s_[p] == '\n') return p + 1;
    return p;
  }

  size_t end_comment(size_t p, size_t tag) {
    for (size_t i = p; i + 1 < s_.size(); ++i) {
      if (s_[i] == '+' && s_.compare(i + 1, 2, "#}") == 0) return i + 3;
      if (s_[i] == '-' && s_.compare(i + 1, 2, "#}") == 0) return after_end(i + 1, '-', 2);
      if (s_[i] == '#' && s_[i + 1] == '}') return after_end(i, 0, 2);
    }
    fail(src_.where(static_cast<uint32_t>(tag)), ": missing end of comment tag");
  }

  // `{% raw %}` (possibly with -/+): p is just after "{%[-+]".
  bool is_raw(size_t p, size_t* body) const {
    size_t i = skip_space(s_, p);
    if (s_.compare(i, 3, "raw") != 0) return false;
    i = skip_space(s_, i + 3);
    if (i < s_.size() && s_[i] == '-' && s_.compare(i + 1, 2, "%}") == 0) {
      *body = skip_space(s_, i + 3);
      return true;
    }
    if (s_.compare(i, 2, "%}") == 0) {
      *body = i + 2;
      return true;
    }
    return false;
  }

  size_t raw_body(size_t p, size_t tag) {
    for (size_t i = s_.find("{%", p); i != std::string::npos; i = s_.find("{%", i + 1)) {
      size_t j = i + 2;
      char sign = (j < s_.size() && (s_[j] == '-' || s_[j] == '+')) ? s_[j++] : 0;
      j = skip_space(s_, j);
      if (s_.compare(j, 6, "endraw") != 0) continue;
      j = skip_space(s_, j + 6);
      char esign = (j < s_.size() && (s_[j] == '-' || s_[j] == '+')) ? s_[j++] : 0;
      if (s_.compare(j, 2, "%}") != 0) continue;
      std::string_view text = s_.substr(p, i - p);
      if (sign == '-') {
        text = text.substr(0, rstrip_len(text));
      } else if (sign != '+') {
        const size_t nl = text.rfind('\n');
        const size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
        if (all_space(text.substr(l_pos))) text = text.substr(0, l_pos);
      }
      if (!text.empty()) emit(Tok::kData, std::string(text), p);
      return after_end(j, esign, 2);
    }
    fail(src_.where(static_cast<uint32_t>(tag)), ": missing {% endraw %}");
  }

  size_t tag_body(size_t p, bool block, size_t tag) {
    std::vector<char> balance;
    while (true) {
      p = skip_space(s_, p);
      if (p >= s_.size()) fail(src_.where(static_cast<uint32_t>(tag)), block ? ": unexpected end of template, missing '%}'" : ": unexpected end of template, missing '}}'");
      if (balance.empty()) {
        const char* close = block ? "%}" : "}}";
        if ((s_[p] == '-' || (block && s_[p] == '+')) && s_.compare(p + 1, 2, close) == 0) {
          emit(block ? Tok::kBlockEnd : Tok::kVarEnd, "", p);
          return block ? after_end(p + 1, s_[p], 2) : (s_[p] == '-' ? skip_space(s_, p + 3) : p + 3);
        }
        if (s_.compare(p, 2, close) == 0) {
          emit(block ? Tok::kBlockEnd : Tok::kVarEnd, "", p);
          return block ? after_end(p, 0, 2) : p + 2;
        }
      }
      p = token(p, balance);
    }
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }
  // (\d+_)*\d+ at p; returns end or p when absent.
  size_t digits(size_t p) const {
    size_t i = p;
    if (i >= s_.size() || !digit(s_[i])) return p;
    while (i < s_.size() && digit(s_[i])) {
      ++i;
      if (i + 1 < s_.size() && s_[i] == '_' && digit(s_[i + 1])) ++i;
    }
    return i;
  }

  size_t token(size_t p, std::vector<char>& balance) {
    const char c = s_[p];
    if (digit(c)) {
      size_t e = digits(p);
      size_t fe = e;
      bool is_float = false;
      if (fe + 1 < s_.size() && s_[fe] == '.' && digit(s_[fe + 1]) && !(p > 0 && s_[p - 1] == '.')) {
        fe = digits(fe + 1);
        is_float = true;
      }
      if (fe < s_.size() && (s_[fe] == 'e' || s_[fe] == 'E') && !(p > 0 && s_[p - 1] == '.')) {
        size_t k = fe + 1;
        if (k < s_.size() && (s_[k] == '+' || s_[k] == '-')) ++k;
        const size_t ee = digits(k);
        if (ee > k) {
          fe = ee;
          is_float = true;
        }
      }
      std::string t(s_.substr(p, (is_float ? fe : e) - p));
      t.erase(std::remove(t.begin(), t.end(), '_'), t.end());
      emit(is_float ? Tok::kFloat : Tok::kInt, t, p);
      return is_float ? fe : e;
    }
    if (c == '_' || std::isalpha(static_cast<unsigned char>(c))) {
      size_t e = p;
      while (e < s_.size() && (s_[e] == '_' || std::isalnum(static_cast<unsigned char>(s_[e])))) ++e;
      emit(Tok::kName, std::string(s_.substr(p, e - p)), p);
      return e;
    }
    if (c == '\'' || c == '"') {
      size_t i = p + 1;
      while (i < s_.size() && s_[i] != c) i += s_[i] == '\\' ? 2 : 1;
      if (i >= s_.size()) fail(src_.where(static_cast<uint32_t>(p)), ": unterminated string literal");
      emit(Tok::kString, unescape(s_.substr(p + 1, i - p - 1), src_, static_cast<uint32_t>(p)), p);
      return i + 1;
    }
    static const char* const kOps2[] = {"//", "**", "==", "!=", "<=", ">="};
    for (const char* op : kOps2) {
      if (s_.compare(p, 2, op) == 0) {
        emit(Tok::kOp, op, p);
        return p + 2;
      }
    }
    if (std::strchr("+-/*%~[](){}<>=.:|,;", c)) {
      if (c == '(' || c == '[' || c == '{') {
        balance.push_back(c);
      } else if (c == ')' || c == ']' || c == '}') {
        const char open = c == ')' ? '(' : c == ']' ? '[' : '{';
        if (balance.empty() || balance.back() != open)
          fail(src_.where(static_cast<uint32_t>(p)), ": unexpected '", c, "'");
        balance.pop_back();
      }
      emit(Tok::kOp, std::string(1, c), p);
      return p + 1;
    }
    fail(src_.where(static_cast<uint32_t>(p)), ": unexpected char '", c, "'");
  }

  const Source& src_;
  std::string_view s_;
  std::vector<Token> toks_;
};

}  // namespace

std::vector<Token> tokenize(const Source& src) { return Lexer(src).run(); }

}  // namespace qg::chat::jinja
