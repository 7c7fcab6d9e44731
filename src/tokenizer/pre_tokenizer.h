// tokenizer/pre_tokenizer: the two pre-tokenizers of the Qwen2 Sequence: the Split with the
// Qwen2 regex as a hand-written scanner, and the ByteLevel byte <-> character map.
//
// It reproduces, match for match, what a backtracking regex engine (Oniguruma, as the
// oracle uses it: leftmost match, first alternative that succeeds, greedy quantifiers)
// finds with
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//   \s*[\r\n]+|\s+(?!\S)|\s+
// with behaviour Isolated (every match is a piece; the pattern matches every code point,
// so there are no gaps). A scanner is used instead of a regex library because it is an
// order of magnitude faster and has no Unicode tables of its own to disagree with ours.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tokenizer/unicode.h"

namespace qg::tok {

// The exact pattern string this scanner implements (tokenizer.json must name it).
inline constexpr std::string_view kQwen2Pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// Calls emit(begin, end) for each piece of text (byte offsets), in order; the pieces
// tile the text. text must be valid UTF-8.
template <typename Emit>
void qwen2_split(std::string_view text, Emit&& emit);

// Byte offset just past the piece that starts at pos (pos < text.size()).
size_t qwen2_piece_end(std::string_view text, size_t pos, const UnicodeTables& t);
// The same, and end_seen tells whether the scanner had to look at the end of the text
// to decide (a failed alternative included). When it did not, the piece depends only
// on bytes inside text, so it is the same piece in every text that starts with text:
// the rule streaming encoders use to commit tokens (tokenizer/incremental_encoder.h).
// The regex has no look-behind, so the pieces from a piece boundary on depend only on
// the text from there.
size_t qwen2_piece_end_final(std::string_view text, size_t pos, const UnicodeTables& t, bool& end_seen);

template <typename Emit>
void qwen2_split(std::string_view text, Emit&& emit) {
  const UnicodeTables& t = UnicodeTables::get();
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = qwen2_piece_end(text, pos, t);
    emit(pos, end);
    pos = end;
  }
}

// ---- ByteLevel ------------------------------------------------------------------------
// GPT-2's reversible byte <-> printable-character map (the ByteLevel pre-tokenizer and
// decoder). Bytes 0x21-0x7E, 0xA1-0xAC and 0xAE-0xFF map to the code point of the same
// value; the other 68 bytes map to U+0100 + n in byte order. Knows nothing of vocabularies.
class ByteLevel {
 public:
  static const ByteLevel& get();

  // UTF-8 of the character that stands for byte b.
  std::string_view byte_to_string(uint8_t b) const { return {chars_[b].data(), lens_[b]}; }
  // Maps every byte of bytes to its character.
  std::string encode(std::string_view bytes) const;
  // Hugging Face's ByteLevel decoder for one token: if every character of token is a
  // byte-level character, appends those bytes; otherwise appends token unchanged.
  // token must be valid UTF-8.
  void decode_token(std::string_view token, std::string& out) const;
  // Byte for code point cp, or -1.
  int char_to_byte(char32_t cp) const { return cp < 0x144 ? inverse_[cp] : -1; }

 private:
  ByteLevel();
  std::array<std::array<char, 2>, 256> chars_{};
  std::array<uint8_t, 256> lens_{};
  std::array<int16_t, 0x144> inverse_{};  // code point -> byte, -1 if none
};

}  // namespace qg::tok
