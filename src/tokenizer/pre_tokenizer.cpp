// tokenizer/pre_tokenizer: the Qwen2 split scanner (see pre_tokenizer.h for the regex) and
// the ByteLevel table.
//
// Each alternative is tried in order at the current position, as the regex engine
// does; where an alternative would backtrack, the comment says which match the
// backtracking ends on. Facts checked against the oracle (tests/tokenizer goldens):
//  * \s is White_Space (U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028/9, U+202F, U+205F,
//    U+3000 are spaces; U+180E and U+200B are not);
//  * (?i:...) case-folds like Oniguruma: 's also matches U+017F LATIN SMALL LETTER LONG S;
//    no other code point folds to s, t, r, e, v, m, l or d.
#include "tokenizer/pre_tokenizer.h"

namespace qg::tok {
namespace {

// Class of one code point for the scanner.
enum Cls : uint8_t { kL, kN, kS, kO };  // letter, number, white space, other

struct Cp {
  char32_t cp;
  size_t len;  // bytes; 0 at the end of the text
  Cls cls;
};

// end_seen is set when the scanner looks at the end of the text: only then may the
// piece change when text is appended (qwen2_piece_end_final).
inline Cp at(std::string_view text, size_t pos, const UnicodeTables& t, bool& end_seen) {
  if (pos >= text.size()) {
    end_seen = true;
    return {0, 0, kO};
  }
  const unsigned char b = static_cast<unsigned char>(text[pos]);
  if (b < 0x80) {
    // ASCII fast path; the same classes the table gives.
    Cls c = kO;
    if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')) c = kL;
    else if (b >= '0' && b <= '9') c = kN;
    else if (b == ' ' || (b >= 9 && b <= 13)) c = kS;
    return {b, 1, c};
  }
  size_t len;
  const char32_t cp = decode_utf8(text.data() + pos, &len);
  const uint8_t f = t.flags(cp);
  const Cls c = (f & kLetter) ? kL : (f & kNumber) ? kN : (f & kSpace) ? kS : kO;
  return {cp, len, c};
}

inline bool is_crlf(char32_t c) { return c == '\r' || c == '\n'; }

// Case-insensitive single-letter match for the contraction alternative.
inline bool fold_eq(char32_t c, char lower) {
  if (c == static_cast<char32_t>(lower) || c == static_cast<char32_t>(lower - 32)) return true;
  return lower == 's' && c == 0x017F;  // LATIN SMALL LETTER LONG S folds to s
}

inline size_t scan_letters(std::string_view text, size_t pos, const UnicodeTables& t, bool& end_seen) {
  for (;;) {
    const Cp c = at(text, pos, t, end_seen);
    if (c.len == 0 || c.cls != kL) return pos;
    pos += c.len;
  }
}

}  // namespace

size_t qwen2_piece_end(std::string_view text, size_t pos, const UnicodeTables& t) {
  bool end_seen = false;
  return qwen2_piece_end_final(text, pos, t, end_seen);
}

size_t qwen2_piece_end_final(std::string_view text, size_t pos, const UnicodeTables& t, bool& end_seen) {
  end_seen = false;
  const Cp c0 = at(text, pos, t, end_seen);

  // 1. (?i:'s|'t|'re|'ve|'m|'ll|'d)
  if (c0.cp == '\'') {
    const Cp c1 = at(text, pos + 1, t, end_seen);
    if (c1.len) {
      if (fold_eq(c1.cp, 's') || fold_eq(c1.cp, 't') || fold_eq(c1.cp, 'm') ||
          fold_eq(c1.cp, 'd')) {
        return pos + 1 + c1.len;
      }
      const Cp c2 = at(text, pos + 1 + c1.len, t, end_seen);
      if (c2.len && ((fold_eq(c1.cp, 'r') && fold_eq(c2.cp, 'e')) ||
                     (fold_eq(c1.cp, 'v') && fold_eq(c2.cp, 'e')) ||
                     (fold_eq(c1.cp, 'l') && fold_eq(c2.cp, 'l')))) {
        return pos + 1 + c1.len + c2.len;
      }
    }
  }

  // 2. [^\r\n\p{L}\p{N}]?\p{L}+ : a letter run, optionally preceded by one code point
  //    that is neither CR, LF, letter nor number (if it is taken, a letter must follow).
  if (c0.cls == kL) return scan_letters(text, pos + c0.len, t, end_seen);
  if (c0.cls != kN && !is_crlf(c0.cp)) {
    const Cp c1 = at(text, pos + c0.len, t, end_seen);
    if (c1.len && c1.cls == kL) return scan_letters(text, pos + c0.len + c1.len, t, end_seen);
  }

  // 3. \p{N} : one code point.
  if (c0.cls == kN) return pos + c0.len;

  // 4. ' '?[^\s\p{L}\p{N}]+[\r\n]* : optional ASCII space, a run of "other", then CR/LF.
  {
    size_t p = pos;
    Cp c = c0;
    if (c0.cp == ' ') {
      p += 1;
      c = at(text, p, t, end_seen);
    }
    if (c.len && c.cls == kO) {
      while (c.len && c.cls == kO) {
        p += c.len;
        c = at(text, p, t, end_seen);
      }
      while (c.len && is_crlf(c.cp)) {
        p += c.len;
        c = at(text, p, t, end_seen);
      }
      return p;
    }
  }

  // From here c0 is white space. Find the white-space run [pos, run_end), the start of
  // its last code point, and the end of its last CR/LF.
  size_t run_end = pos, last_start = pos, last_crlf_end = 0, count = 0;
  for (;;) {
    const Cp c = at(text, run_end, t, end_seen);
    if (!c.len || c.cls != kS) break;
    last_start = run_end;
    run_end += c.len;
    ++count;
    if (is_crlf(c.cp)) last_crlf_end = run_end;
  }

  // 5. \s*[\r\n]+ : \s* backtracks to the last CR/LF of the run; [\r\n]+ then takes it
  //    (the run cannot continue with CR/LF beyond the last one).
  if (last_crlf_end) return last_crlf_end;

  // 6. \s+(?!\S) : the whole run at the end of the text; otherwise the run minus its
  //    last code point (which is then followed by white space), if that is not empty.
  if (run_end == text.size()) return run_end;
  if (count >= 2) return last_start;

  // 7. \s+
  return run_end;
}

// ---- ByteLevel ----------------------------------------------------------------------
const ByteLevel& ByteLevel::get() {
  static const ByteLevel table;
  return table;
}

ByteLevel::ByteLevel() {
  inverse_.fill(-1);
  int extra = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    const char32_t cp = printable ? static_cast<char32_t>(b) : 0x100 + extra++;
    std::string s;
    append_utf8(s, cp);
    lens_[b] = static_cast<uint8_t>(s.size());
    for (size_t i = 0; i < s.size(); ++i) chars_[b][i] = s[i];
    inverse_[cp] = static_cast<int16_t>(b);
  }
}

std::string ByteLevel::encode(std::string_view bytes) const {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out.append(byte_to_string(b));
  return out;
}

void ByteLevel::decode_token(std::string_view token, std::string& out) const {
  const size_t mark = out.size();
  size_t i = 0;
  while (i < token.size()) {
    size_t len;
    const char32_t cp = decode_utf8(token.data() + i, &len);
    const int b = char_to_byte(cp);
    if (b < 0) {
      out.resize(mark);
      out.append(token);
      return;
    }
    out.push_back(static_cast<char>(b));
    i += len;
  }
}

}  // namespace qg::tok
