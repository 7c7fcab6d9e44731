// The Qwen3Guard-Gen output grammar compiled to a token-level automaton.
//
//   Safety: <Safe|Unsafe|Controversial>\n
//   Categories: <None | C1, C2, ...>          (distinct categories of the mode)
//   [\nRefusal: <Yes|No>]                       (response mode only)
//   <|im_end|>
//
// Design choice (docs/guard.md "Grammar"): the grammar fixes the *syntax* only.
// Any label may be followed by None or by a non-empty list of distinct categories;
// it does not force "None" for Safe. The model is told to write None when safe but
// nothing stops it doing otherwise, and the point of fast mode is to reproduce what
// greedy decoding writes: the looser the grammar, the more often fast mode equals
// plain text mode on a real checkpoint. Distinctness only rules out degenerate
// repeats and bounds the output length.
//
// Every fixed piece and every alternative is tokenized by the checkpoint's own
// tokenizer (separately; a test proves the concatenation equals the tokenization
// of the whole output, i.e. the canonical tokenization the model was trained on).
// Alternatives of one choice form a trie over token ids, so alternatives that
// share a first token are still handled; at every cursor position the automaton
// says either "this one token is forced" or "decide among these tokens".
// fast mode and masked text mode both walk this same automaton, which is what makes
// them equal by construction (up to the arithmetic of chunked forwards).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "guard/labels.h"

namespace qg::guard {

// Text -> token ids, with special-token matching (the pieces are template text).
using Encoder = std::function<std::vector<int32_t>(std::string_view)>;

// Where a decision is taken; the classifier reports probabilities at the three
// "root" decisions (first token of the label, of the first category, of refusal).
enum class DecisionKind : uint8_t {
  kNone,           // forced token or finished
  kSafety,         // first token of the safety label
  kCategoryFirst,  // first token of the first category (or None)
  kListContinue,   // ", " (another category) or end of the list
  kCategoryNext,   // first token of a further category
  kRefusal,        // first token of Yes/No
  kInner,          // inside a multi-token alternative whose first token is shared
};

class OutputGrammar {
 public:
  // Compiles the grammar for `mode`. end_id: <|im_end|>. Throws qg::Error when the
  // tokenizer makes the grammar ambiguous (an alternative whose tokens are a prefix
  // of another's, or a list separator sharing a first token with the list end).
  OutputGrammar(Mode mode, const Encoder& encode, int32_t end_id);

  // Position in the output. Small and copyable: decoding keeps one per moderation.
  struct Cursor {
    uint8_t slot = 0;     // which piece of the output (see grammar.cpp)
    int32_t node = 0;     // index inside a fixed piece, or trie node of a choice
    uint16_t used = 0;    // categories already listed (bit per Category)
    // What has been decided so far (complete alternatives only).
    std::optional<Safety> safety;
    std::vector<Category> categories;
    bool categories_none = false;
    std::optional<Refusal> refusal;
  };

  Cursor start() const;
  bool done(const Cursor& c) const;
  // The allowed next tokens, ascending. Exactly one when the token is forced.
  std::vector<int32_t> allowed(const Cursor& c) const;
  DecisionKind decision_kind(const Cursor& c) const;
  // Throws qg::Error if `token` is not allowed.
  Cursor advance(const Cursor& c, int32_t token) const;

  Mode mode() const { return mode_; }
  int32_t end_id() const { return end_id_; }

  // Token ids of each alternative (for tests and probability reporting).
  const std::vector<int32_t>& safety_tokens(Safety s) const { return safety_alts_[static_cast<int>(s)]; }
  const std::vector<int32_t>& category_tokens(Category c) const { return cat_alts_[static_cast<int>(c)]; }
  const std::vector<int32_t>& none_tokens() const { return cat_alts_[kNumCategories]; }
  const std::vector<int32_t>& refusal_tokens(Refusal r) const { return refusal_alts_[static_cast<int>(r)]; }

  // The token each alternative takes at its choice's branch point (the first
  // position where the alternatives differ). Probabilities are read there.
  int32_t safety_branch_token(Safety s) const { return safety_trie_.branch_token[static_cast<int>(s)]; }
  // index: Category, or kNumCategories for None.
  int32_t category_branch_token(int index) const { return cat_trie_.branch_token[index]; }
  int32_t refusal_branch_token(Refusal r) const { return refusal_trie_.branch_token[static_cast<int>(r)]; }

  // The fixed pieces and their token ids, in output order (tests check that the
  // concatenation equals the canonical tokenization of whole outputs).
  struct Piece {
    std::string text;
    std::vector<int32_t> ids;
  };
  const Piece& piece_safety_head() const { return safety_head_; }
  const Piece& piece_categories_head() const { return cat_head_; }
  const Piece& piece_separator() const { return sep_; }
  const Piece& piece_refusal_head() const { return refusal_head_; }

  // The output text for a verdict, exactly as the grammar spells it (without <|im_end|>).
  static std::string format(Mode mode, Safety s, const std::vector<Category>& cats,
                            std::optional<Refusal> r);

 private:
  // A trie over token sequences; alt >= 0 marks the end of alternative `alt`.
  struct TrieNode {
    std::vector<std::pair<int32_t, int32_t>> children;  // (token id, child node), ascending ids
    int32_t alt = -1;
  };
  struct Trie {
    std::vector<TrieNode> nodes;  // nodes[0] is the root
    // The first node with more than one child: where the choice is really made
    // (tokens before it are shared by every alternative, hence forced).
    int32_t branch = 0;
    std::vector<int32_t> branch_token;  // [alternatives]: the token taken at `branch`
  };
  static Trie build_trie(const std::vector<std::vector<int32_t>>& alts, std::string_view what);
  // Allowed tokens at a trie node, honouring a mask of disabled alternatives.
  std::vector<int32_t> trie_allowed(const Trie& t, int32_t node, uint32_t disabled) const;
  bool trie_reaches(const Trie& t, int32_t node, uint32_t disabled) const;
  uint32_t disabled_categories(const Cursor& c, bool first) const;
  Cursor after_piece(Cursor c) const;  // moves to the slot after a finished piece

  Mode mode_;
  int32_t end_id_;
  Piece safety_head_, cat_head_, sep_, refusal_head_;
  std::vector<std::vector<int32_t>> safety_alts_;   // [3]
  std::vector<std::vector<int32_t>> cat_alts_;      // [10]: 9 categories, then None
  std::vector<std::vector<int32_t>> refusal_alts_;  // [2]
  Trie safety_trie_, cat_trie_, refusal_trie_;
};

}  // namespace qg::guard
