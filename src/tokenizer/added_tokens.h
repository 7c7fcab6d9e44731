// tokenizer/added_tokens: added (and special) tokens and the matcher that splits them out
// of the text before normalisation, with Hugging Face's AddedVocabulary semantics:
// leftmost-longest match; single_word, lstrip and rstrip as in find_matches. Our one
// addition is provenance: a match may not cover any byte marked as user content.
// Knows nothing of BPE or JSON.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qg::tok {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;      // skipped by decode(skip_special_tokens=true)
  bool normalized = false;   // matched in NFC text (after the non-normalized ones)
  bool lstrip = false;       // swallows the white space on its left
  bool rstrip = false;       // swallows the white space on its right
  bool single_word = false;  // only matches when not inside a word (Rust regex \w)
};

// One piece of a split: text [begin, end) of the sentence, or an added token.
struct Split {
  size_t begin = 0, end = 0;
  int32_t id = -1;  // -1: text to normalise and pre-tokenise; else the added token's id
};

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  // patterns[i] is matched and yields tokens[i] (content, or its NFC for normalized ones).
  AddedTokenMatcher(std::vector<std::string> patterns, std::vector<AddedToken> tokens);

  bool empty() const { return patterns_.empty(); }

  // Appends the split of sentence to out. content (may be null: all template) flags the
  // bytes of sentence that are user content; no match covers such a byte. Offsets in out
  // are relative to sentence, plus base.
  void split(std::string_view sentence, const uint8_t* content, size_t base,
             std::vector<Split>& out) const;

 private:
  std::vector<std::string> patterns_;
  std::vector<AddedToken> tokens_;
  std::array<std::vector<uint32_t>, 256> by_first_byte_;  // pattern indices, longest first
};

}  // namespace qg::tok
