// tokenizer/unicode: the Unicode facts the Qwen2 tokenizer pipeline needs, taken from
// utf8proc and adjusted so that they agree with the oracle (Hugging Face tokenizers,
// whose regex engine Oniguruma knows Unicode 16.0 while its NFC tables are Unicode 9.0;
// see unicode.cpp and docs/tokenizer.md for the exact deltas and how they were found).
//
// Knows nothing about tokens or JSON: code-point classes, UTF-8 decoding and repair,
// and NFC normalisation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/string_id_map.h"  // HugeVector

namespace qg::tok {

// Bit flags per code point (UnicodeTables::flags).
enum CpFlag : uint8_t {
  kLetter = 1,        // \p{L} as the oracle's regex engine sees it
  kNumber = 2,        // \p{N}
  kSpace = 4,         // \s: the Unicode White_Space property (25 code points)
  kWord = 8,          // Rust regex \w (Alphabetic, M, Nd, Pc, Join_Control): single_word
  kNfcUnsafe = 16,    // may change under NFC or combine with its neighbours
  kNfcBarrier = 32,   // unknown to the oracle's Unicode-9 NFC: a starter that never composes
};

// Immutable per-code-point table (1.1 MB), built once per process from utf8proc.
class UnicodeTables {
 public:
  static const UnicodeTables& get();  // thread-safe lazy construction

  uint8_t flags(char32_t cp) const { return cp < kSize ? flags_[cp] : 0; }
  bool is_letter(char32_t cp) const { return flags(cp) & kLetter; }
  bool is_number(char32_t cp) const { return flags(cp) & kNumber; }
  bool is_space(char32_t cp) const { return flags(cp) & kSpace; }
  bool is_word(char32_t cp) const { return flags(cp) & kWord; }

  static constexpr char32_t kSize = 0x110000;

 private:
  UnicodeTables();
  HugeVector<uint8_t> flags_;  // [0x110000]
};

// Decodes one code point of *valid* UTF-8 at s[i] (precondition: s is valid UTF-8).
// Returns the code point; *len receives its byte length (1..4).
inline char32_t decode_utf8(const char* s, size_t* len) {
  const auto* u = reinterpret_cast<const unsigned char*>(s);
  if (u[0] < 0x80) { *len = 1; return u[0]; }
  if (u[0] < 0xE0) { *len = 2; return ((u[0] & 0x1F) << 6) | (u[1] & 0x3F); }
  if (u[0] < 0xF0) {
    *len = 3;
    return ((u[0] & 0x0F) << 12) | ((u[1] & 0x3F) << 6) | (u[2] & 0x3F);
  }
  *len = 4;
  return ((u[0] & 0x07) << 18) | ((u[1] & 0x3F) << 12) | ((u[2] & 0x3F) << 6) | (u[3] & 0x3F);
}

void append_utf8(std::string& out, char32_t cp);

// Length of the well-formed UTF-8 sequence starting at s[0] (1..4), or, when the bytes
// are ill-formed, -(length of the maximal ill-formed subpart), which is at least 1; or 0
// when the sequence is a valid but incomplete prefix cut off by the end of the input.
// "Maximal subpart" is the Unicode §3.9 / WHATWG rule that Rust's from_utf8_lossy and
// Python's errors="replace" use: each maximal subpart becomes one U+FFFD.
int utf8_sequence_length(const unsigned char* s, size_t n);

// Appends s to out, replacing every maximal ill-formed subpart with U+FFFD (an
// incomplete sequence at the end also becomes one U+FFFD). Exactly Rust's
// String::from_utf8_lossy. Returns the number of replacements.
size_t append_utf8_lossy(std::string& out, std::string_view s);
bool is_valid_utf8(std::string_view s);

// NFC exactly as the oracle computes it (Unicode 9.0 normalisation data; see unicode.cpp).
// in must be valid UTF-8. Appends the result to out.
void nfc_append(std::string& out, std::string_view in);

// Same, and also reports which output bytes come from normalised regions that
// contained a byte with mark[i] set: out_mark receives one flag per output byte.
// Used to keep user-content provenance through normalisation.
void nfc_append_marked(std::string& out, std::vector<uint8_t>& out_mark, std::string_view in,
                       const uint8_t* mark);

// True if in is certainly unchanged by NFC (the fast path: no unsafe code point).
bool nfc_quick_check(std::string_view in);

}  // namespace qg::tok
