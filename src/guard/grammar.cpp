// Output grammar automaton (see grammar.h). The output is a fixed sequence of
// slots; a slot is either a fixed piece (its tokens are forced one by one) or a
// choice (a walk down a trie of alternatives). The category list loops through
// kListCont / kSep / kCatNext until the model ends it.
#include "guard/grammar.h"

#include <algorithm>

#include "base/error.h"

namespace qg::guard {
namespace {

enum Slot : uint8_t {
  kSafetyHead,      // fixed "Safety:"
  kSafetyChoice,    // " Safe" | " Unsafe" | " Controversial"
  kCatHead,         // fixed "\nCategories:"
  kCatFirst,        // " Violent" | ... | " None"
  kListCont,        // "," (another category) or the first token after the list
  kSep,             // rest of a multi-token separator (never with the Qwen3 tokenizer)
  kCatNext,         // a category not listed yet (no None)
  kRefusalHead,     // fixed "\nRefusal:" (response mode)
  kRefusalChoice,   // " Yes" | " No"
  kEnd,             // fixed <|im_end|>
  kDone,
};

constexpr int kNoneAlt = kNumCategories;  // index of " None" among the category alternatives

}  // namespace

OutputGrammar::Trie OutputGrammar::build_trie(const std::vector<std::vector<int32_t>>& alts,
                                              std::string_view what) {
  Trie t;
  t.nodes.emplace_back();
  for (size_t a = 0; a < alts.size(); ++a) {
    if (alts[a].empty()) fail("output grammar: ", what, " alternative ", a, " tokenizes to nothing");
    int32_t node = 0;
    for (int32_t tok : alts[a]) {
      auto& ch = t.nodes[node].children;
      auto it = std::lower_bound(ch.begin(), ch.end(), std::make_pair(tok, INT32_MIN));
      if (it != ch.end() && it->first == tok) {
        node = it->second;
      } else {
        const int32_t child = static_cast<int32_t>(t.nodes.size());
        ch.insert(it, {tok, child});
        t.nodes.emplace_back();  // may reallocate: `ch` is not used after this
        node = child;
      }
      if (t.nodes[node].alt >= 0)
        fail("output grammar: ", what, " alternative ", a, " extends alternative ", t.nodes[node].alt,
             " token for token; the automaton could not tell where one ends");
    }
    if (!t.nodes[node].children.empty())
      fail("output grammar: ", what, " alternative ", a, " is a token prefix of another alternative");
    t.nodes[node].alt = static_cast<int32_t>(a);
  }
  while (t.nodes[t.branch].children.size() == 1 && t.nodes[t.branch].alt < 0)
    t.branch = t.nodes[t.branch].children[0].second;
  for (const auto& alt : alts) {
    int32_t node = 0;
    size_t depth = 0;
    while (node != t.branch) node = std::lower_bound(t.nodes[node].children.begin(), t.nodes[node].children.end(),
                                                     std::make_pair(alt[depth++], INT32_MIN))->second;
    t.branch_token.push_back(alt[depth]);
  }
  return t;
}

OutputGrammar::OutputGrammar(Mode mode, const Encoder& encode, int32_t end_id)
    : mode_(mode), end_id_(end_id) {
  auto piece = [&](std::string text) { return Piece{text, encode(text)}; };
  safety_head_ = piece("Safety:");
  cat_head_ = piece("\nCategories:");
  sep_ = piece(",");
  refusal_head_ = piece("\nRefusal:");
  for (const Piece* p : {&safety_head_, &cat_head_, &sep_, &refusal_head_}) {
    if (p->ids.empty()) fail("output grammar: piece '", p->text, "' tokenizes to nothing");
  }
  for (int i = 0; i < kNumSafety; ++i)
    safety_alts_.push_back(encode(std::string(" ").append(safety_name(static_cast<Safety>(i)))));
  for (int i = 0; i < kNumCategories; ++i)
    cat_alts_.push_back(encode(std::string(" ").append(category_name(static_cast<Category>(i)))));
  cat_alts_.push_back(encode(" None"));
  for (int i = 0; i < kNumRefusal; ++i)
    refusal_alts_.push_back(encode(std::string(" ").append(refusal_name(static_cast<Refusal>(i)))));
  safety_trie_ = build_trie(safety_alts_, "safety label");
  cat_trie_ = build_trie(cat_alts_, "category");
  refusal_trie_ = build_trie(refusal_alts_, "refusal");
  // After a category the model either writes the separator or ends the list; the
  // two must start with different tokens for the choice to be a token decision.
  const int32_t list_end = mode_ == Mode::kResponse ? refusal_head_.ids[0] : end_id_;
  if (sep_.ids[0] == list_end)
    fail("output grammar: the category separator and the end of the list share token ", list_end);
}

OutputGrammar::Cursor OutputGrammar::start() const { return Cursor{}; }

bool OutputGrammar::done(const Cursor& c) const { return c.slot == kDone; }

bool OutputGrammar::trie_reaches(const Trie& t, int32_t node, uint32_t disabled) const {
  const TrieNode& n = t.nodes[node];
  if (n.alt >= 0) return !(disabled >> n.alt & 1u);
  for (const auto& [tok, child] : n.children) {
    if (trie_reaches(t, child, disabled)) return true;
  }
  return false;
}

std::vector<int32_t> OutputGrammar::trie_allowed(const Trie& t, int32_t node, uint32_t disabled) const {
  std::vector<int32_t> out;
  for (const auto& [tok, child] : t.nodes[node].children) {
    if (trie_reaches(t, child, disabled)) out.push_back(tok);
  }
  return out;  // children are kept ascending
}

// Category alternatives that may not be chosen: those the mode does not offer,
// those already listed, and None after the first position.
uint32_t OutputGrammar::disabled_categories(const Cursor& c, bool first) const {
  uint32_t disabled = c.used;
  if (mode_ == Mode::kResponse) disabled |= 1u << static_cast<int>(Category::kJailbreak);
  if (!first) disabled |= 1u << kNoneAlt;
  return disabled;
}

std::vector<int32_t> OutputGrammar::allowed(const Cursor& c) const {
  switch (c.slot) {
    case kSafetyHead: return {safety_head_.ids[c.node]};
    case kSafetyChoice: return trie_allowed(safety_trie_, c.node, 0);
    case kCatHead: return {cat_head_.ids[c.node]};
    case kCatFirst: return trie_allowed(cat_trie_, c.node, disabled_categories(c, true));
    case kListCont: {
      const int32_t list_end = mode_ == Mode::kResponse ? refusal_head_.ids[0] : end_id_;
      // Another category is possible only while one is left to list.
      if (!trie_reaches(cat_trie_, 0, disabled_categories(c, false))) return {list_end};
      std::vector<int32_t> out = {sep_.ids[0], list_end};
      std::sort(out.begin(), out.end());
      return out;
    }
    case kSep: return {sep_.ids[c.node]};
    case kCatNext: return trie_allowed(cat_trie_, c.node, disabled_categories(c, false));
    case kRefusalHead: return {refusal_head_.ids[c.node]};
    case kRefusalChoice: return trie_allowed(refusal_trie_, c.node, 0);
    case kEnd: return {end_id_};
    default: return {};
  }
}

DecisionKind OutputGrammar::decision_kind(const Cursor& c) const {
  if (allowed(c).size() < 2) return DecisionKind::kNone;
  switch (c.slot) {
    case kSafetyChoice: return c.node == safety_trie_.branch ? DecisionKind::kSafety : DecisionKind::kInner;
    case kCatFirst: return c.node == cat_trie_.branch ? DecisionKind::kCategoryFirst : DecisionKind::kInner;
    case kListCont: return DecisionKind::kListContinue;
    case kCatNext: return c.node == 0 ? DecisionKind::kCategoryNext : DecisionKind::kInner;
    case kRefusalChoice: return c.node == refusal_trie_.branch ? DecisionKind::kRefusal : DecisionKind::kInner;
    default: return DecisionKind::kInner;
  }
}

OutputGrammar::Cursor OutputGrammar::after_piece(Cursor c) const {
  const uint8_t after_list = mode_ == Mode::kResponse ? kRefusalHead : kEnd;
  switch (c.slot) {
    case kSafetyHead: c.slot = kSafetyChoice; break;
    case kSafetyChoice: c.slot = kCatHead; break;
    case kCatHead: c.slot = kCatFirst; break;
    case kCatFirst: c.slot = c.categories_none ? after_list : static_cast<uint8_t>(kListCont); break;
    case kSep: c.slot = kCatNext; break;
    case kCatNext: c.slot = kListCont; break;
    case kRefusalHead: c.slot = kRefusalChoice; break;
    case kRefusalChoice: c.slot = kEnd; break;
    case kEnd: c.slot = kDone; break;
    default: QG_CHECK(false, "after_piece in slot ", int(c.slot));
  }
  c.node = 0;
  return c;
}

OutputGrammar::Cursor OutputGrammar::advance(const Cursor& c, int32_t token) const {
  const std::vector<int32_t> ok = allowed(c);
  if (!std::binary_search(ok.begin(), ok.end(), token) && !(ok.size() == 1 && ok[0] == token))
    fail("output grammar: token ", token, " is not allowed here (slot ", int(c.slot), ")");
  Cursor n = c;
  // Fixed pieces: step through their ids.
  auto fixed = [&](const std::vector<int32_t>& ids) {
    n.node += 1;
    return n.node == static_cast<int32_t>(ids.size()) ? after_piece(n) : n;
  };
  // Choices: walk the trie; record the alternative when a leaf is reached.
  auto choose = [&](const Trie& t, auto&& record) {
    const auto& ch = t.nodes[n.node].children;
    auto it = std::lower_bound(ch.begin(), ch.end(), std::make_pair(token, INT32_MIN));
    n.node = it->second;
    const int32_t alt = t.nodes[n.node].alt;
    if (alt < 0) return n;
    record(alt);
    return after_piece(n);
  };
  switch (c.slot) {
    case kSafetyHead: return fixed(safety_head_.ids);
    case kCatHead: return fixed(cat_head_.ids);
    case kSep: return fixed(sep_.ids);
    case kRefusalHead: return fixed(refusal_head_.ids);
    case kEnd: return fixed({end_id_});
    case kSafetyChoice:
      return choose(safety_trie_, [&](int32_t a) { n.safety = static_cast<Safety>(a); });
    case kRefusalChoice:
      return choose(refusal_trie_, [&](int32_t a) { n.refusal = static_cast<Refusal>(a); });
    case kCatFirst:
    case kCatNext:
      return choose(cat_trie_, [&](int32_t a) {
        if (a == kNoneAlt) {
          n.categories_none = true;
        } else {
          n.categories.push_back(static_cast<Category>(a));
          n.used |= static_cast<uint16_t>(1u << a);
        }
      });
    case kListCont: {
      if (token == sep_.ids[0]) {
        n.slot = kSep;
        n.node = 0;
        return fixed(sep_.ids);
      }
      // The list ended: this token is the first of the piece after the list.
      n.slot = mode_ == Mode::kResponse ? kRefusalHead : kEnd;
      n.node = 0;
      return mode_ == Mode::kResponse ? fixed(refusal_head_.ids) : fixed({end_id_});
    }
    default: fail("output grammar: token ", token, " after the end of the output");
  }
}

std::string OutputGrammar::format(Mode mode, Safety s, const std::vector<Category>& cats,
                                  std::optional<Refusal> r) {
  std::string out = "Safety: " + std::string(safety_name(s)) + "\nCategories: ";
  if (cats.empty()) out += "None";
  for (size_t i = 0; i < cats.size(); ++i) {
    if (i) out += ", ";
    out += category_name(cats[i]);
  }
  if (mode == Mode::kResponse) out += "\nRefusal: " + std::string(refusal_name(r.value_or(Refusal::kNo)));
  return out;
}

}  // namespace qg::guard
