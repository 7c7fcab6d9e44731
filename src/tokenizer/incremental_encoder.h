// tokenizer/incremental_encoder: tokenize text that arrives in chunks of any size (an
// upstream model's output, split anywhere, even inside a UTF-8 character), emitting
// each token as soon as it is final: the concatenation of everything emitted equals
// encode(prefix + all chunks, Origin::kContent) of the whole text, token for token.
//
// What may still change when text is appended, and is therefore held back:
//  1. an incomplete UTF-8 sequence at the end (the next bytes may complete it);
//  2. everything from the last NFC-safe code point on (it may compose with combining
//     marks that follow; text before a safe code point never interacts with text from
//     it on, the boundary rule the tokenizer's own NFC is built on, unicode.cpp);
//  3. pre-tokenizer pieces whose match had to look at the end of the normalised text
//     (qwen2_piece_end_final): "  " before "\n" becomes part of "  \n", a letter run
//     may continue, "\s+(?!\S)" backs off by one space when a word follows. A piece
//     decided without looking at the end is final, because the Qwen2 regex has no
//     look-behind, and BPE runs per piece.
// Nothing else depends on what follows, so the held tail is at most the last piece or
// two (unbounded only for an unbroken run, e.g. one 10,000-letter word, which no
// tokenizer could split before it ends).
//
// Not thread-safe (one per stream). The Tokenizer must outlive it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qg::tok {

class Tokenizer;

class IncrementalEncoder {
 public:
  // prefix: text that precedes the content in the same pre-tokenizer run and must be
  // tokenized together with it (e.g. the "\n\n" a chat template writes between
  // "</think>" and the answer); it must contain no added token.
  // max_held_bytes bounds the held-back tail (qg::Error beyond it).
  explicit IncrementalEncoder(const Tokenizer& tok, std::string_view prefix = {},
                              size_t max_held_bytes = size_t{1} << 20);

  // Appends a chunk; appends the tokens it made final to out. Returns how many.
  size_t push(std::string_view chunk, std::vector<int32_t>& out);
  // End of text: appends the tokens of everything still held (an unfinished UTF-8
  // sequence becomes U+FFFD, as encode does). The encoder is then empty and may be
  // reused for a new text (without prefix).
  size_t finish(std::vector<int32_t>& out);
  // Drops everything held (reset of a stream); the next push starts a new text.
  void clear();

  size_t held_bytes() const { return norm_.size() + raw_.size(); }

 private:
  // Moves the final part of raw_ into norm_, then emits the final pieces of norm_.
  size_t advance(bool at_end, std::vector<int32_t>& out);

  const Tokenizer& tok_;
  size_t max_held_;
  std::string norm_;  // normalised text from a piece boundary: final as text, pieces not yet final
  std::string raw_;   // not yet normalised: from the last NFC-safe code point on (+ incomplete UTF-8)
  std::string scratch_;
};

}  // namespace qg::tok
