// tokenizer/unicode: code-point classes, UTF-8 repair and NFC, built on utf8proc.
//
// utf8proc (Debian 2.8, Unicode 15.0) supplies general categories, combining classes
// and the NFC algorithm. The oracle differs from Unicode 15.0 in two documented ways,
// found by probing every code point through the oracle (tools/tokenizer/make_goldens.js
// writes the probes; tests/tokenizer/unicode_test.cpp checks every code point):
//
//  1. Its pre-tokenizer regex (Oniguruma 6.9.10) knows Unicode 16.0, so 5,004 code points
//     assigned in 15.1/16.0 are \p{L} or \p{N} there but unassigned in utf8proc:
//     kUnicode16Delta below adds them.
//  2. Its NFC (crate unicode-normalization-alignments) carries Unicode 9.0 data: the 108
//     combining marks assigned since 9.0 have combining class 0 there, and the one
//     composition added since (U+11935 U+11930 -> U+11938, Unicode 13) is unknown.
//     kNfcPost9 lists them; such a code point is an NFC barrier (see nfc_append).
//
// Only White_Space (\s) is a literal list: utf8proc does not expose that property, and it
// has been stable since Unicode 6.3 (U+180E left it then; the oracle agrees).
#include "tokenizer/unicode.h"

#include <utf8proc.h>

#include <cstdlib>
#include <cstring>

#include "base/error.h"

namespace qg::tok {
namespace {

struct Range {
  char32_t first, last;
  uint8_t flag;
};

// Letters and numbers of Unicode 15.1/16.0 (UnicodeData.txt 16.0), as the oracle's
// regex engine classifies them.
constexpr Range kUnicode16Delta[] = {
    {0x1C89, 0x1C8A, kLetter},   {0xA7CB, 0xA7CD, kLetter},   {0xA7DA, 0xA7DC, kLetter},
    {0x105C0, 0x105F3, kLetter}, {0x10D40, 0x10D49, kNumber}, {0x10D4A, 0x10D65, kLetter},
    {0x10D6F, 0x10D85, kLetter}, {0x10EC2, 0x10EC4, kLetter}, {0x11380, 0x11389, kLetter},
    {0x1138B, 0x1138B, kLetter}, {0x1138E, 0x1138E, kLetter}, {0x11390, 0x113B5, kLetter},
    {0x113B7, 0x113B7, kLetter}, {0x113D1, 0x113D1, kLetter}, {0x113D3, 0x113D3, kLetter},
    {0x116D0, 0x116E3, kNumber}, {0x11BC0, 0x11BE0, kLetter}, {0x11BF0, 0x11BF9, kNumber},
    {0x13460, 0x143FA, kLetter}, {0x16100, 0x1611D, kLetter}, {0x16130, 0x16139, kNumber},
    {0x16D40, 0x16D6C, kLetter}, {0x16D70, 0x16D79, kNumber}, {0x18CFF, 0x18CFF, kLetter},
    {0x1CCF0, 0x1CCF9, kNumber}, {0x1E5D0, 0x1E5ED, kLetter}, {0x1E5F0, 0x1E5F0, kLetter},
    {0x1E5F1, 0x1E5FA, kNumber}, {0x2EBF0, 0x2EE5D, kLetter},
};

// Code points whose normalisation behaviour is newer than Unicode 9.0: combining marks
// assigned in 10.0-15.0 (combining class != 0 in utf8proc, 0 for the oracle) and
// U+11930, the second half of the only composition added since 9.0.
constexpr Range kNfcPost9[] = {
    {0x07FD, 0x07FD, 0},   {0x0898, 0x089F, 0},   {0x08CA, 0x08D3, 0},   {0x09FE, 0x09FE, 0},
    {0x0C3C, 0x0C3C, 0},   {0x0D3B, 0x0D3C, 0},   {0x0EBA, 0x0EBA, 0},   {0x1715, 0x1715, 0},
    {0x1ABF, 0x1ACE, 0},   {0x1DF6, 0x1DFA, 0},   {0xA82C, 0xA82C, 0},   {0x10D24, 0x10D27, 0},
    {0x10EAB, 0x10EAC, 0}, {0x10EFD, 0x10EFF, 0}, {0x10F46, 0x10F50, 0}, {0x10F82, 0x10F85, 0},
    {0x11070, 0x11070, 0}, {0x1133B, 0x1133B, 0}, {0x1145E, 0x1145E, 0}, {0x11839, 0x1183A, 0},
    {0x11930, 0x11930, 0}, {0x1193D, 0x1193E, 0}, {0x11943, 0x11943, 0}, {0x119E0, 0x119E0, 0},
    {0x11A34, 0x11A34, 0}, {0x11A47, 0x11A47, 0}, {0x11A99, 0x11A99, 0}, {0x11D42, 0x11D42, 0},
    {0x11D44, 0x11D45, 0}, {0x11D97, 0x11D97, 0}, {0x11F41, 0x11F42, 0}, {0x16FF0, 0x16FF1, 0},
    {0x1E08F, 0x1E08F, 0}, {0x1E130, 0x1E136, 0}, {0x1E2AE, 0x1E2AE, 0}, {0x1E2EC, 0x1E2EF, 0},
    {0x1E4EC, 0x1E4EF, 0},
};

// Unicode White_Space.
constexpr Range kWhiteSpace[] = {
    {0x0009, 0x000D, 0}, {0x0020, 0x0020, 0}, {0x0085, 0x0085, 0}, {0x00A0, 0x00A0, 0},
    {0x1680, 0x1680, 0}, {0x2000, 0x200A, 0}, {0x2028, 0x2029, 0}, {0x202F, 0x202F, 0},
    {0x205F, 0x205F, 0}, {0x3000, 0x3000, 0},
};

// Rust regex \w beyond L/M/Nd/Nl/Pc: Join_Control and the Other_Alphabetic symbols.
constexpr Range kWordExtra[] = {
    {0x200C, 0x200D, 0},   {0x24B6, 0x24E9, 0},   {0x1F130, 0x1F149, 0},
    {0x1F150, 0x1F169, 0}, {0x1F170, 0x1F189, 0},
};

bool is_surrogate(char32_t cp) { return cp >= 0xD800 && cp <= 0xDFFF; }

}  // namespace

const UnicodeTables& UnicodeTables::get() {
  static const UnicodeTables tables;
  return tables;
}

UnicodeTables::UnicodeTables() : flags_(kSize, 0) {
  for (char32_t cp = 0; cp < kSize; ++cp) {
    if (is_surrogate(cp)) continue;
    const utf8proc_property_t* p = utf8proc_get_property(static_cast<utf8proc_int32_t>(cp));
    uint8_t f = 0;
    switch (p->category) {
      case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
      case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        f |= kLetter | kWord; break;
      case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL:
        f |= kNumber | kWord; break;
      case UTF8PROC_CATEGORY_NO:
        f |= kNumber; break;
      case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
      case UTF8PROC_CATEGORY_PC:
        f |= kWord; break;
      default: break;
    }
    if (p->combining_class != 0) f |= kNfcUnsafe;
    // Code points with a canonical decomposition: unsafe if NFC does not map them to
    // themselves (singletons, exclusions); every later starter in the decomposition
    // can combine with what precedes it, so it is unsafe too. Hangul is algorithmic
    // and handled below.
    if (p->decomp_seqindex != UINT16_MAX && !(cp >= 0xAC00 && cp <= 0xD7A3)) {
      utf8proc_int32_t d[8];
      int last_bound = 0;
      utf8proc_ssize_t nd = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(cp), d, 8,
                                                    UTF8PROC_DECOMPOSE, &last_bound);
      if (nd > 1 || (nd == 1 && d[0] != static_cast<utf8proc_int32_t>(cp))) {
        std::string one;
        append_utf8(one, cp);
        utf8proc_uint8_t* nfc = nullptr;
        utf8proc_ssize_t nl = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(one.data()),
                                           static_cast<utf8proc_ssize_t>(one.size()), &nfc,
                                           static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
        if (nl < 0 || std::string_view(reinterpret_cast<char*>(nfc), nl) != one) f |= kNfcUnsafe;
        std::free(nfc);
        for (utf8proc_ssize_t k = 1; k < nd; ++k) {
          if (utf8proc_get_property(d[k])->combining_class == 0) flags_[d[k]] |= kNfcUnsafe;
        }
      }
    }
    flags_[cp] |= f;
  }
  for (char32_t cp = 0x1161; cp <= 0x1175; ++cp) flags_[cp] |= kNfcUnsafe;  // Hangul V
  for (char32_t cp = 0x11A8; cp <= 0x11C2; ++cp) flags_[cp] |= kNfcUnsafe;  // Hangul T
  for (const Range& r : kUnicode16Delta) {
    for (char32_t cp = r.first; cp <= r.last; ++cp) flags_[cp] |= r.flag | kWord;
  }
  for (const Range& r : kWhiteSpace) {
    for (char32_t cp = r.first; cp <= r.last; ++cp) flags_[cp] |= kSpace;
  }
  for (const Range& r : kWordExtra) {
    for (char32_t cp = r.first; cp <= r.last; ++cp) flags_[cp] |= kWord;
  }
  for (const Range& r : kNfcPost9) {
    for (char32_t cp = r.first; cp <= r.last; ++cp) {
      flags_[cp] = static_cast<uint8_t>((flags_[cp] & ~kNfcUnsafe) | kNfcBarrier);
    }
  }
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

int utf8_sequence_length(const unsigned char* s, size_t n) {
  const unsigned char b0 = s[0];
  if (b0 < 0x80) return 1;
  int need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte (Table 3-7)
  if (b0 < 0xC2) return -1;
  if (b0 < 0xE0) {
    need = 1;
  } else if (b0 < 0xF0) {
    need = 2;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;  // no UTF-16 surrogates
  } else if (b0 < 0xF5) {
    need = 3;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return -1;
  }
  for (int k = 1; k <= need; ++k) {
    if (static_cast<size_t>(k) >= n) return 0;
    const unsigned char c = s[k];
    const bool ok = k == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
    if (!ok) return -k;
  }
  return need + 1;
}

size_t append_utf8_lossy(std::string& out, std::string_view s) {
  const auto* u = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0, copied = 0, replaced = 0;
  while (i < n) {
    if (u[i] < 0x80) { ++i; continue; }
    const int len = utf8_sequence_length(u + i, n - i);
    if (len > 0) { i += static_cast<size_t>(len); continue; }
    out.append(s.data() + copied, i - copied);
    out.append("\xEF\xBF\xBD");
    ++replaced;
    i = len == 0 ? n : i + static_cast<size_t>(-len);
    copied = i;
  }
  out.append(s.data() + copied, n - copied);
  return replaced;
}

bool is_valid_utf8(std::string_view s) {
  const auto* u = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    if (i + 8 <= s.size()) {  // eight ASCII bytes at a time
      uint64_t w;
      std::memcpy(&w, u + i, 8);
      if (!(w & 0x8080808080808080ull)) { i += 8; continue; }
    }
    if (u[i] < 0x80) { ++i; continue; }
    const int len = utf8_sequence_length(u + i, s.size() - i);
    if (len <= 0) return false;
    i += static_cast<size_t>(len);
  }
  return true;
}

bool nfc_quick_check(std::string_view in) {
  const UnicodeTables& t = UnicodeTables::get();
  size_t i = 0;
  while (i < in.size()) {
    if (static_cast<unsigned char>(in[i]) < 0x80) { ++i; continue; }
    size_t len;
    const char32_t cp = decode_utf8(in.data() + i, &len);
    if (t.flags(cp) & kNfcUnsafe) return false;
    i += len;
  }
  return true;
}

// NFC is applied region by region. A "safe" code point (combining class 0, unchanged
// by NFC, never the second half of a composition) is a normalisation boundary: nothing
// before it can interact with anything from it on, except that it may itself compose
// with the marks that follow. So each run of unsafe code points, together with the
// safe starter just before it, is normalised by utf8proc and the rest is copied. A
// kNfcBarrier code point is a starter that composes with nothing (as in the oracle's
// Unicode 9 data), so a region never includes it: that keeps utf8proc's newer data
// for those code points out of the result.
void nfc_append_marked(std::string& out, std::vector<uint8_t>& out_mark, std::string_view in,
                       const uint8_t* mark) {
  const UnicodeTables& t = UnicodeTables::get();
  const size_t n = in.size();
  size_t i = 0, copied = 0, boundary = 0, region = 0;
  bool in_region = false;
  auto copy_to = [&](size_t end) {
    out.append(in.data() + copied, end - copied);
    if (mark) out_mark.insert(out_mark.end(), mark + copied, mark + end);
    copied = end;
  };
  auto flush = [&](size_t end) {
    utf8proc_uint8_t* dst = nullptr;
    const utf8proc_ssize_t len =
        utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(in.data() + region),
                     static_cast<utf8proc_ssize_t>(end - region), &dst,
                     static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    if (len < 0) {
      std::free(dst);
      fail("NFC: utf8proc failed on bytes ", region, "..", end, ": ", utf8proc_errmsg(len));
    }
    out.append(reinterpret_cast<const char*>(dst), static_cast<size_t>(len));
    std::free(dst);
    if (mark) {
      uint8_t any = 0;
      for (size_t k = region; k < end; ++k) any |= mark[k];
      out_mark.insert(out_mark.end(), static_cast<size_t>(len), any);
    }
    copied = end;
    in_region = false;
  };
  while (i < n) {
    const unsigned char b = static_cast<unsigned char>(in[i]);
    if (b < 0x80) {
      if (in_region) flush(i);
      boundary = i++;
      continue;
    }
    size_t len;
    const char32_t cp = decode_utf8(in.data() + i, &len);
    const uint8_t f = t.flags(cp);
    if (!(f & kNfcUnsafe)) {
      if (in_region) flush(i);
      boundary = (f & kNfcBarrier) ? i + len : i;
    } else if (!in_region) {
      copy_to(boundary);
      region = boundary;
      in_region = true;
    }
    i += len;
  }
  if (in_region) flush(n);
  copy_to(n);
}

void nfc_append(std::string& out, std::string_view in) {
  std::vector<uint8_t> unused;
  nfc_append_marked(out, unused, in, nullptr);
}

}  // namespace qg::tok
