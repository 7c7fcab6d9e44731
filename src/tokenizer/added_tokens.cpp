// tokenizer/added_tokens: leftmost-longest matching of added tokens (see added_tokens.h).
//
// Mirrors tokenizers' AddedVocabulary::find_matches: the search resumes after the raw
// match even when the match is discarded (single_word) or widened (rstrip), lstrip never
// reaches back into the previous match, and the "word" and "space" tests use Rust
// regex \w and \s on the whole sentence, whatever the provenance of those characters.
#include "tokenizer/added_tokens.h"

#include <algorithm>
#include <cstring>

#include "tokenizer/unicode.h"

namespace qg::tok {
namespace {

// Code point that ends s[0, end) (s is valid UTF-8, end > 0).
char32_t last_cp(std::string_view s, size_t end, size_t* start) {
  size_t i = end - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  size_t len;
  *start = i;
  return decode_utf8(s.data() + i, &len);
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(std::vector<std::string> patterns, std::vector<AddedToken> tokens)
    : patterns_(std::move(patterns)), tokens_(std::move(tokens)) {
  for (uint32_t i = 0; i < patterns_.size(); ++i) {
    if (patterns_[i].empty()) continue;  // Hugging Face ignores empty tokens
    by_first_byte_[static_cast<unsigned char>(patterns_[i][0])].push_back(i);
  }
  for (auto& v : by_first_byte_) {
    std::stable_sort(v.begin(), v.end(), [&](uint32_t a, uint32_t b) {
      return patterns_[a].size() > patterns_[b].size();
    });
  }
}

void AddedTokenMatcher::split(std::string_view s, const uint8_t* content, size_t base,
                              std::vector<Split>& out) const {
  const UnicodeTables& uni = UnicodeTables::get();
  const size_t n = s.size();
  size_t start_offset = 0;
  size_t pos = 0;
  while (pos < n) {
    const auto& cands = by_first_byte_[static_cast<unsigned char>(s[pos])];
    if (cands.empty() || (content && content[pos])) {
      ++pos;
      continue;
    }
    int found = -1;
    for (uint32_t c : cands) {
      const std::string& p = patterns_[c];
      if (p.size() > n - pos || std::memcmp(s.data() + pos, p.data(), p.size()) != 0) continue;
      if (content && std::find(content + pos, content + pos + p.size(), 1) != content + pos + p.size()) {
        continue;  // would cover user content: not a match for us
      }
      found = static_cast<int>(c);
      break;
    }
    if (found < 0) {
      ++pos;
      continue;
    }
    const AddedToken& tok = tokens_[found];
    size_t start = pos, stop = pos + patterns_[found].size();
    pos = stop;  // the automaton resumes after the raw match in every case
    if (tok.single_word) {
      bool word_before = false, word_after = false;
      if (start > 0) {
        size_t at;
        word_before = uni.is_word(last_cp(s, start, &at));
      }
      if (stop < n) {
        size_t len;
        word_after = uni.is_word(decode_utf8(s.data() + stop, &len));
      }
      if (word_before || word_after) continue;
    }
    if (tok.lstrip) {
      size_t new_start = start;
      while (new_start > 0) {
        size_t at;
        if (!uni.is_space(last_cp(s, new_start, &at))) break;
        new_start = at;
      }
      start = std::max(new_start, start_offset);
    }
    if (tok.rstrip) {
      while (stop < n) {
        size_t len;
        if (!uni.is_space(decode_utf8(s.data() + stop, &len))) break;
        stop += len;
      }
    }
    if (start_offset < start) out.push_back({base + start_offset, base + start, -1});
    out.push_back({base + start, base + stop, tok.id});
    start_offset = stop;
  }
  if (start_offset < n) out.push_back({base + start_offset, base + n, -1});
}

}  // namespace qg::tok
