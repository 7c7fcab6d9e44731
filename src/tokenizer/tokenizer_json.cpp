// tokenizer/tokenizer_json: tokenizer.json and tokenizer_config.json readers.
//
// tokenizer.json is 11 MB, nearly all of it /model/vocab and /model/merges. A DOM of it
// costs ~0.9 s and ~70 MB, so the file is read with nlohmann's SAX interface: the vocab
// and merges stream straight into the spec, everything else (a few kB) becomes a small
// DOM that is then validated field by field. Unsupported components are refused rather
// than approximated: a tokenizer that is almost right is wrong for a guard.
#include "tokenizer/tokenizer_json.h"

#include <nlohmann/json.hpp>

#include <limits>
#include <unordered_map>

#include "base/error.h"
#include "base/limits.h"
#include "tokenizer/pre_tokenizer.h"

namespace qg::tok {

std::string json_pointer_escape(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

namespace {

using json = nlohmann::json;

// Added tokens (tokenizer.json /added_tokens, tokenizer_config.json /added_tokens_decoder).
// Qwen3 has 26; the matcher tests each candidate at every template byte, so a bound keeps
// both loading and encoding cheap. 65,536 is far above any published tokenizer.
constexpr size_t kMaxAddedTokens = 65536;

class Sax final : public nlohmann::json_sax<json> {
 public:
  explicit Sax(TokenizerSpec& spec) : spec_(spec) {}

  json root;
  bool saw_vocab = false, saw_merges = false;
  std::string error;  // set when a handler returns false

  bool null() override { return scalar(nullptr); }
  bool boolean(bool v) override { return scalar(v); }
  bool number_float(number_float_t v, const string_t&) override { return scalar(v); }
  bool binary(binary_t&) override { return bad("unexpected binary value"); }

  bool number_integer(number_integer_t v) override {
    if (mode() == Mode::kVocab) return vocab_id(v);
    return scalar(v);
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (mode() == Mode::kVocab) {
      return v > static_cast<uint64_t>(limits::kMaxTokenId)
                 ? bad("token id ", v, " out of range (allowed: 0 to ", limits::kMaxTokenId, ")")
                 : vocab_id(static_cast<int64_t>(v));
    }
    return scalar(v);
  }

  bool string(string_t& s) override {
    switch (mode()) {
      case Mode::kVocab: return bad("expected an integer token id");
      case Mode::kMerges: {
        if (!form(1)) return false;
        // tokenizers' convert_merges_to_hashmap: exactly one space separates the parts.
        const size_t sp = s.find(' ');
        if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
          return bad("expected \"a b\" (two tokens separated by one space), got \"", s, "\"");
        }
        spec_.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
        advance();
        return true;
      }
      case Mode::kMergePair:
        if (pair_.size() == 2) return bad("a merge pair has exactly two strings");
        pair_.push_back(std::move(s));
        advance();
        return true;
      case Mode::kDom: return scalar(std::move(s));
    }
    return false;
  }

  bool key(string_t& k) override {
    stack_.back().key = std::move(k);
    return true;
  }

  bool start_object(std::size_t) override {
    if (stack_.size() >= limits::kMaxJsonDepth) return too_deep();
    if (mode() != Mode::kDom) return bad("expected ", mode() == Mode::kVocab ? "an integer token id" : "a merge");
    if (at_model_key("merges")) return bad("expected an array");
    if (at_model_key("vocab")) {
      stack_.push_back({false, {}, 0, nullptr, Mode::kVocab});
      return true;
    }
    json* node = place(json::object());
    stack_.push_back({false, {}, 0, node, Mode::kDom});
    return true;
  }

  bool end_object() override {
    if (mode() == Mode::kVocab) saw_vocab = true;
    stack_.pop_back();
    advance();
    return true;
  }

  bool start_array(std::size_t) override {
    if (stack_.size() >= limits::kMaxJsonDepth) return too_deep();
    switch (mode()) {
      case Mode::kVocab: return bad("expected an integer token id");
      case Mode::kMergePair: return bad("expected a string");
      case Mode::kMerges:
        if (!form(2)) return false;
        pair_.clear();
        stack_.push_back({true, {}, 0, nullptr, Mode::kMergePair});
        return true;
      case Mode::kDom: break;
    }
    if (at_model_key("vocab")) return bad("expected an object");
    if (at_model_key("merges")) {
      stack_.push_back({true, {}, 0, nullptr, Mode::kMerges});
      return true;
    }
    json* node = place(json::array());
    stack_.push_back({true, {}, 0, node, Mode::kDom});
    return true;
  }

  bool end_array() override {
    const Mode m = mode();
    if (m == Mode::kMergePair) {
      if (pair_.size() != 2) {
        stack_.pop_back();
        return bad("expected a pair [\"a\", \"b\"], got ", pair_.size(), " strings");
      }
      spec_.merges.emplace_back(std::move(pair_[0]), std::move(pair_[1]));
    }
    if (m == Mode::kMerges) saw_merges = true;
    stack_.pop_back();
    advance();
    return true;
  }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& ex) override {
    error = cat("byte ", position, ": ", ex.what());
    return false;
  }

 private:
  enum class Mode { kDom, kVocab, kMerges, kMergePair };
  struct Frame {
    bool is_array;
    std::string key;
    size_t index;
    json* node;  // kDom only
    Mode mode;
  };

  Mode mode() const { return stack_.empty() ? Mode::kDom : stack_.back().mode; }

  // True if the value about to start is /model/<name>.
  bool at_model_key(const char* name) const {
    return stack_.size() == 2 && !stack_[0].is_array && stack_[0].key == "model" &&
           !stack_[1].is_array && stack_[1].key == name;
  }

  std::string path() const {
    std::string p;
    for (const Frame& f : stack_) {
      p += '/';
      p += f.is_array ? std::to_string(f.index) : json_pointer_escape(f.key);
    }
    return p.empty() ? "/" : p;
  }

  template <typename... Args>
  bool bad(Args&&... args) {
    error = cat(path(), ": ", std::forward<Args>(args)...);
    return false;
  }

  // The merges must be all strings (1) or all pairs (2), as in tokenizers' MergeType.
  bool form(int f) {
    if (merges_form_ == 0) merges_form_ = f;
    if (merges_form_ != f) return bad("merges mix the \"a b\" and [\"a\", \"b\"] forms");
    return true;
  }

  bool too_deep() { return bad("JSON nested deeper than ", limits::kMaxJsonDepth, " levels"); }

  bool vocab_id(int64_t v) {
    if (v < 0) return bad("negative token id");
    if (v > limits::kMaxTokenId) return bad("token id ", v, " out of range (allowed: 0 to ", limits::kMaxTokenId, ")");
    spec_.vocab.set(stack_.back().key, static_cast<int32_t>(v));  // last duplicate wins
    return true;
  }

  void advance() {
    if (!stack_.empty() && stack_.back().is_array) ++stack_.back().index;
  }

  json* place(json v) {
    if (stack_.empty()) {
      root = std::move(v);
      return &root;
    }
    Frame& f = stack_.back();
    if (f.is_array) {
      f.node->push_back(std::move(v));
      return &f.node->back();
    }
    json& slot = (*f.node)[f.key];
    slot = std::move(v);
    return &slot;
  }

  template <typename T>
  bool scalar(T&& v) {
    if (mode() != Mode::kDom) {
      return bad(mode() == Mode::kVocab ? "expected an integer token id" : "expected a merge");
    }
    place(json(std::forward<T>(v)));
    advance();
    return true;
  }

  TokenizerSpec& spec_;
  std::vector<Frame> stack_;
  std::vector<std::string> pair_;
  int merges_form_ = 0;
};

// Field access with errors that name the file and JSON pointer.
struct Ctx {
  const std::string& label;
  template <typename... Args>
  [[noreturn]] void fail_at(const std::string& path, Args&&... args) const {
    fail(label, ": ", path, ": ", std::forward<Args>(args)...);
  }
  const json* field(const json& obj, const std::string& path, const char* name) const {
    if (!obj.is_object()) fail_at(path, "expected an object");
    auto it = obj.find(name);
    return it == obj.end() ? nullptr : &*it;
  }
  bool boolean(const json& obj, const std::string& path, const char* name, bool dflt) const {
    const json* v = field(obj, path, name);
    if (!v || v->is_null()) return dflt;
    if (!v->is_boolean()) fail_at(path + "/" + name, "expected true or false");
    return v->get<bool>();
  }
  std::string type(const json& obj, const std::string& path) const {
    const json* t = field(obj, path, "type");
    if (!t || !t->is_string()) fail_at(path + "/type", "expected a string naming the component type");
    return t->get<std::string>();
  }
};

void check_normalizer(const Ctx& c, const json& n, const std::string& path, TokenizerSpec& spec) {
  if (n.is_null()) return;
  const std::string type = c.type(n, path);
  if (type == "NFC") {
    spec.nfc = true;
  } else if (type == "Sequence") {
    const json* list = c.field(n, path, "normalizers");
    if (!list || !list->is_array()) c.fail_at(path + "/normalizers", "expected an array");
    for (size_t i = 0; i < list->size(); ++i) {
      check_normalizer(c, (*list)[i], path + "/normalizers/" + std::to_string(i), spec);
    }
  } else {
    c.fail_at(path + "/type", "unsupported normalizer '", type, "' (supported: NFC, Sequence)");
  }
}

void check_pre_tokenizer(const Ctx& c, const json& root) {
  const std::string path = "/pre_tokenizer";
  const json* pt = c.field(root, "", "pre_tokenizer");
  if (!pt || pt->is_null()) c.fail_at(path, "missing; only the Qwen2 Split + ByteLevel sequence is supported");
  const std::string type = c.type(*pt, path);
  if (type != "Sequence") {
    c.fail_at(path + "/type", "unsupported pre-tokenizer '", type, "' (supported: Sequence of Split and ByteLevel)");
  }
  const json* list = c.field(*pt, path, "pretokenizers");
  if (!list || !list->is_array() || list->size() != 2) {
    c.fail_at(path + "/pretokenizers", "expected [Split, ByteLevel]");
  }
  const json& split = (*list)[0];
  const std::string sp = path + "/pretokenizers/0";
  if (c.type(split, sp) != "Split") c.fail_at(sp + "/type", "unsupported pre-tokenizer '", c.type(split, sp), "' (expected Split)");
  const json* pattern = c.field(split, sp, "pattern");
  const json* regex = pattern ? c.field(*pattern, sp + "/pattern", "Regex") : nullptr;
  if (!regex || !regex->is_string() || regex->get<std::string>() != kQwen2Pattern) {
    c.fail_at(sp + "/pattern", "unsupported split pattern (only the Qwen2 regex is implemented)");
  }
  const json* behavior = c.field(split, sp, "behavior");
  if (!behavior || *behavior != "Isolated") c.fail_at(sp + "/behavior", "unsupported split behaviour (expected Isolated)");
  if (c.boolean(split, sp, "invert", false)) c.fail_at(sp + "/invert", "unsupported: invert");
  const json& bl = (*list)[1];
  const std::string bp = path + "/pretokenizers/1";
  if (c.type(bl, bp) != "ByteLevel") c.fail_at(bp + "/type", "unsupported pre-tokenizer '", c.type(bl, bp), "' (expected ByteLevel)");
  if (c.boolean(bl, bp, "add_prefix_space", false)) c.fail_at(bp + "/add_prefix_space", "unsupported: true");
  if (c.boolean(bl, bp, "use_regex", true)) c.fail_at(bp + "/use_regex", "unsupported: true (the GPT-2 regex is not implemented)");
}

void check_model(const Ctx& c, const json& root, bool saw_vocab, bool saw_merges, TokenizerSpec& spec) {
  const json* model = c.field(root, "", "model");
  if (!model) c.fail_at("/model", "missing");
  const std::string type = c.type(*model, "/model");
  if (type != "BPE") c.fail_at("/model/type", "unsupported model type '", type, "' (supported: BPE)");
  if (!saw_vocab) c.fail_at("/model/vocab", "missing");
  if (!saw_merges) c.fail_at("/model/merges", "missing");
  if (const json* d = c.field(*model, "/model", "dropout"); d && !d->is_null() && !(d->is_number() && d->get<double>() == 0.0)) {
    c.fail_at("/model/dropout", "unsupported: BPE dropout");
  }
  for (const char* name : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const json* v = c.field(*model, "/model", name);
    if (v && !v->is_null() && !(v->is_string() && v->get<std::string>().empty())) {
      c.fail_at(std::string("/model/") + name, "unsupported: non-empty value");
    }
  }
  if (c.boolean(*model, "/model", "byte_fallback", false)) c.fail_at("/model/byte_fallback", "unsupported: true");
  if (const json* u = c.field(*model, "/model", "unk_token"); u && !u->is_null()) {
    if (!u->is_string()) c.fail_at("/model/unk_token", "expected a string or null");
    spec.bpe.unk_token = u->get<std::string>();
  }
  spec.bpe.fuse_unk = c.boolean(*model, "/model", "fuse_unk", false);
  spec.bpe.ignore_merges = c.boolean(*model, "/model", "ignore_merges", false);
}

AddedToken parse_added(const Ctx& c, const json& t, const std::string& path) {
  AddedToken a;
  const json* content = c.field(t, path, "content");
  if (!content || !content->is_string()) c.fail_at(path + "/content", "expected a string");
  a.content = content->get<std::string>();
  a.special = c.boolean(t, path, "special", false);
  a.normalized = c.boolean(t, path, "normalized", !a.special);
  a.lstrip = c.boolean(t, path, "lstrip", false);
  a.rstrip = c.boolean(t, path, "rstrip", false);
  a.single_word = c.boolean(t, path, "single_word", false);
  return a;
}

int32_t parse_id(const Ctx& c, const json& v, const std::string& path) {
  if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t{1} << 62) ||
      v.get<int64_t>() < 0 || v.get<int64_t>() > limits::kMaxTokenId) {
    c.fail_at(path, "expected a token id from 0 to ", limits::kMaxTokenId);
  }
  return static_cast<int32_t>(v.get<int64_t>());
}

}  // namespace

TokenizerSpec parse_tokenizer_json(std::string_view text, const std::string& label, bool allow_fast) {
  TokenizerSpec spec;
  json root;
  bool saw_vocab = false, saw_merges = false;
  // Fast path first; anything it does not accept is re-read by the SAX reader, which
  // either succeeds (an unusual but valid file) or names the problem.
  FastTokenizerJson fast;
  bool done = false;
  if (allow_fast && scan_tokenizer_json(text, fast)) {
    try {
      limits::check_json_depth(fast.rest, label);
      root = json::parse(fast.rest);
      spec.vocab = std::move(fast.vocab);
      spec.merges = std::move(fast.merges);
      spec.merge_ids = std::move(fast.merge_ids);
      saw_vocab = fast.has_vocab;
      saw_merges = fast.has_merges;
      done = true;
    } catch (const json::exception&) {
    } catch (const Error&) {  // too deep: the SAX reader reports it with its JSON path
    }
  }
  if (!done) {
    spec = TokenizerSpec{};
    Sax sax(spec);
    if (!json::sax_parse(text.begin(), text.end(), &sax)) fail(label, ": ", sax.error);
    root = std::move(sax.root);
    saw_vocab = sax.saw_vocab;
    saw_merges = sax.saw_merges;
  }
  const Ctx c{label};
  if (!root.is_object()) c.fail_at("/", "expected an object");
  for (const char* name : {"truncation", "padding"}) {
    if (const json* v = c.field(root, "", name); v && !v->is_null()) {
      c.fail_at(std::string("/") + name, "unsupported: must be null (ids are never truncated or padded here)");
    }
  }
  check_model(c, root, saw_vocab, saw_merges, spec);
  if (const json* n = c.field(root, "", "normalizer")) check_normalizer(c, *n, "/normalizer", spec);
  check_pre_tokenizer(c, root);
  const json* dec = c.field(root, "", "decoder");
  if (!dec || dec->is_null() || c.type(*dec, "/decoder") != "ByteLevel") {
    c.fail_at("/decoder", "unsupported decoder (expected ByteLevel)");
  }
  if (const json* pp = c.field(root, "", "post_processor"); pp && !pp->is_null()) {
    const std::string type = c.type(*pp, "/post_processor");
    if (type != "ByteLevel") c.fail_at("/post_processor/type", "unsupported post-processor '", type, "' (supported: ByteLevel)");
  }
  if (const json* list = c.field(root, "", "added_tokens"); list && !list->is_null()) {
    if (!list->is_array()) c.fail_at("/added_tokens", "expected an array");
    if (list->size() > kMaxAddedTokens) {
      c.fail_at("/added_tokens", list->size(), " entries (allowed: up to ", kMaxAddedTokens, ")");
    }
    // Ids as tokenizers assigns them when it loads the file (AddedVocabulary::add_tokens):
    // the "id" field is only checked (a mismatch is a warning there); a token already in
    // the vocabulary keeps its id, a new one takes the next id after the vocabulary.
    int32_t next_id = static_cast<int32_t>(spec.vocab.size());
    std::unordered_map<std::string, size_t> seen;  // content -> index in spec.added
    for (size_t i = 0; i < list->size(); ++i) {
      const std::string path = "/added_tokens/" + std::to_string(i);
      const json* id = c.field((*list)[i], path, "id");
      if (!id) c.fail_at(path + "/id", "missing");
      parse_id(c, *id, path + "/id");
      AddedToken a = parse_added(c, (*list)[i], path);
      if (a.content.empty()) continue;  // ignored by tokenizers
      if (auto it = seen.find(a.content); it != seen.end()) {
        a.id = spec.added[it->second].id;
        spec.added[it->second] = std::move(a);  // the later entry's flags win
        continue;
      }
      if (const int32_t known = spec.vocab.find(a.content); known >= 0) {
        a.id = known;
      } else {
        if (next_id > limits::kMaxTokenId) c.fail_at(path, "token id ", next_id, " out of range (allowed: 0 to ", limits::kMaxTokenId, ")");
        a.id = next_id++;
      }
      seen.emplace(a.content, spec.added.size());
      spec.added.push_back(std::move(a));
    }
  }
  return spec;
}

void apply_tokenizer_config(std::string_view text, const std::string& label, TokenizerSpec& spec) {
  json root;
  limits::check_json_depth(text, label);
  try {
    root = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    fail(label, ": byte ", e.byte, ": ", e.what());
  } catch (const json::exception& e) {  // a number out of range (1e400)
    fail(label, ": ", e.what());
  }
  const Ctx c{label};
  if (!root.is_object()) c.fail_at("/", "expected an object");
  auto token_name = [&](const char* name) -> std::optional<std::string> {
    const json* v = c.field(root, "", name);
    if (!v || v->is_null()) return std::nullopt;
    if (v->is_string()) return v->get<std::string>();
    const json* content = v->is_object() ? c.field(*v, std::string("/") + name, "content") : nullptr;
    if (!content || !content->is_string()) c.fail_at(std::string("/") + name, "expected a string, {\"content\": ...} or null");
    return content->get<std::string>();
  };
  spec.eos_token = token_name("eos_token");
  spec.pad_token = token_name("pad_token");
  const json* table = c.field(root, "", "added_tokens_decoder");
  if (!table || table->is_null()) return;
  if (!table->is_object()) c.fail_at("/added_tokens_decoder", "expected an object");
  if (table->size() > kMaxAddedTokens) {
    c.fail_at("/added_tokens_decoder", table->size(), " entries (allowed: up to ", kMaxAddedTokens, ")");
  }
  // id -> indices in spec.added: one lookup per entry (a scan per entry is quadratic).
  std::unordered_multimap<int32_t, size_t> by_id;
  for (size_t i = 0; i < spec.added.size(); ++i) by_id.emplace(spec.added[i].id, i);
  for (const auto& [key, value] : table->items()) {
    const std::string path = "/added_tokens_decoder/" + json_pointer_escape(key);
    int64_t id = -1;
    try {
      size_t used = 0;
      id = std::stoll(key, &used);
      if (used != key.size()) id = -1;
    } catch (const std::exception&) {
    }
    if (id < 0 || id > limits::kMaxTokenId) {
      c.fail_at(path, "the key must be a token id from 0 to ", limits::kMaxTokenId);
    }
    AddedToken a = parse_added(c, value, path);
    a.id = static_cast<int32_t>(id);
    const auto [lo, hi] = by_id.equal_range(a.id);
    for (auto it = lo; it != hi; ++it) {
      const AddedToken& have = spec.added[it->second];
      if (have.content != a.content) {
        c.fail_at(path + "/content", "'", a.content, "' but tokenizer.json has '", have.content, "' for id ", a.id);
      }
    }
    if (lo != hi) continue;
    by_id.emplace(a.id, spec.added.size());
    spec.added.push_back(std::move(a));
  }
}

}  // namespace qg::tok
