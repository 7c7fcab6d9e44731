// tokenizer/pre_tokenizer: the Qwen2 Split pre-tokenizer as a hand-written scanner.
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

#include <cstddef>
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

}  // namespace qg::tok
