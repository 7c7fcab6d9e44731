// IncrementalEncoder (see the header for the rules and why they are exact).
#include "tokenizer/incremental_encoder.h"

#include "base/error.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace qg::tok {

namespace {

// Length of s without a trailing *valid but incomplete* UTF-8 sequence (which the next
// chunk may complete). An ill-formed tail is kept: it is replaced the same way
// whatever follows (from_utf8_lossy replaces maximal ill-formed subparts, and a
// subpart that cannot start a valid sequence cannot grow into one).
size_t complete_prefix(std::string_view s) {
  const size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const auto b = static_cast<unsigned char>(s[n - back]);
    if ((b & 0xC0) == 0x80) continue;  // continuation byte: look further back
    if (b < 0x80) return n;
    const auto* p = reinterpret_cast<const unsigned char*>(s.data() + n - back);
    return utf8_sequence_length(p, back) == 0 ? n - back : n;
  }
  return n;
}

// Start of the last code point of valid UTF-8 text t that is NFC-safe (ASCII or not
// kNfcUnsafe), or 0 when there is none. Text before it never interacts under NFC with
// text from it on.
size_t last_nfc_boundary(std::string_view t) {
  const UnicodeTables& u = UnicodeTables::get();
  size_t i = t.size();
  while (i > 0) {
    --i;
    const auto b = static_cast<unsigned char>(t[i]);
    if ((b & 0xC0) == 0x80) continue;
    if (b < 0x80) return i;
    size_t len;
    const char32_t cp = decode_utf8(t.data() + i, &len);
    if (!(u.flags(cp) & kNfcUnsafe)) return i;
  }
  return 0;
}

}  // namespace

IncrementalEncoder::IncrementalEncoder(const Tokenizer& tok, std::string_view prefix, size_t max_held_bytes)
    : tok_(tok), max_held_(max_held_bytes), raw_(prefix) {}

void IncrementalEncoder::clear() {
  norm_.clear();
  raw_.clear();
}

size_t IncrementalEncoder::push(std::string_view chunk, std::vector<int32_t>& out) {
  raw_.append(chunk);
  const size_t n = advance(false, out);
  if (held_bytes() > max_held_) {
    fail("streamed text: ", held_bytes(), " bytes without a token boundary (more than the limit of ", max_held_,
         ")");
  }
  return n;
}

size_t IncrementalEncoder::finish(std::vector<int32_t>& out) {
  const size_t n = advance(true, out);
  clear();
  return n;
}

size_t IncrementalEncoder::advance(bool at_end, std::vector<int32_t>& out) {
  // 1. UTF-8: repair what is complete; keep an incomplete tail raw (at the end it is
  //    repaired too: one U+FFFD, as encode does).
  const size_t complete = at_end ? raw_.size() : complete_prefix(raw_);
  scratch_.clear();
  append_utf8_lossy(scratch_, std::string_view(raw_).substr(0, complete));
  const std::string tail = raw_.substr(complete);
  // 2. NFC: normalise up to the last safe code point (all of it at the end).
  const size_t cut = at_end ? scratch_.size() : last_nfc_boundary(scratch_);
  tok_.normalize(std::string_view(scratch_).substr(0, cut), norm_);
  raw_ = scratch_.substr(cut) + tail;

  // 3. Pieces: emit those decided without looking past the end of norm_ (at the end
  //    of the text, the end is real: every piece is final).
  const UnicodeTables& u = UnicodeTables::get();
  const size_t before = out.size();
  size_t pos = 0;
  while (pos < norm_.size()) {
    bool end_seen = false;
    const size_t end = qwen2_piece_end_final(norm_, pos, u, end_seen);
    if (end_seen && !at_end) break;
    tok_.encode_piece(std::string_view(norm_).substr(pos, end - pos), out);
    pos = end;
  }
  norm_.erase(0, pos);
  return out.size() - before;
}

}  // namespace qg::tok
