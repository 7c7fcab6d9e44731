// tokenizer/tokenizer: the encode/decode pipeline, assembled from the pieces:
//   segments --(UTF-8 repair, join, provenance marks)--> text
//   text --(non-normalized added tokens, template bytes only)--> pieces and token ids
//   piece --NFC--> (normalized added tokens) --Qwen2 split--> words --BPE--> ids
// This is tokenizers' TokenizerImpl::encode_single_sequence for our configuration
// (AddedVocabulary::extract_and_normalize, then pre-tokenizer and model per piece).
#include "tokenizer/tokenizer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <unordered_map>

#include "base/error.h"
#include "base/file.h"
#include "base/limits.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/string_id_map.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer_json.h"
#include "tokenizer/unicode.h"

namespace qg::tok {

namespace {

enum IdFlag : uint8_t { kValid = 1, kAdded = 2, kSpecial = 4 };

// Read-only mapping of a whole file: the 11 MB tokenizer.json is parsed in place (a copy
// into fresh memory costs more than the page-cache mapping on a VM).
class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(path.string(), ": cannot open: ", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      fail(path.string(), ": cannot stat: ", std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      fail(path.string(), S_ISDIR(st.st_mode) ? ": is a directory, not a file" : ": not a regular file");
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
      if (p == MAP_FAILED) {
        const int err = errno;
        ::close(fd);
        fail(path.string(), ": cannot map: ", std::strerror(err));
      }
      data_ = static_cast<const char*>(p);
    }
    ::close(fd);
  }
  ~MappedFile() {
    if (data_) ::munmap(const_cast<char*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  std::string_view view() const { return {data_ ? data_ : "", size_}; }

 private:
  const char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace

struct Tokenizer::Impl {
  std::unique_ptr<Bpe> bpe;
  bool nfc = false;
  AddedTokenMatcher raw_matcher;   // normalized == false: matched in the original text
  AddedTokenMatcher norm_matcher;  // normalized == true: matched in NFC pieces
  std::unordered_map<std::string, int32_t> added_ids;  // content -> id
  // Per id: token string (id_to_token), decoded bytes, flags. Strings live in one
  // buffer each: [off[id], off[id+1]).
  HugeString tok_buf, dec_buf;
  HugeVector<uint32_t> tok_off, dec_off;  // [n_ids + 1]
  std::vector<uint8_t> flags;              // [n_ids]
  int32_t eos = -1, pad = -1;

  void encode_words(std::string_view text, std::vector<int32_t>& out) const {
    qwen2_split(text, [&](size_t b, size_t e) { bpe->encode_word(text.substr(b, e - b), out); });
  }

  // One piece between non-normalized added tokens. mark: content flags or null.
  void encode_piece(std::string_view piece, const uint8_t* mark, std::vector<int32_t>& out) const {
    std::string normalized;
    std::vector<uint8_t> nmark;
    std::string_view text = piece;
    const uint8_t* tmark = mark;
    if (nfc && !nfc_quick_check(piece)) {
      if (mark && !norm_matcher.empty()) {
        nfc_append_marked(normalized, nmark, piece, mark);
        tmark = nmark.data();
      } else {
        nfc_append(normalized, piece);
      }
      text = normalized;
    }
    if (norm_matcher.empty()) {
      encode_words(text, out);
      return;
    }
    std::vector<Split> splits;
    norm_matcher.split(text, tmark, 0, splits);
    for (const Split& s : splits) {
      if (s.id >= 0) out.push_back(s.id);
      else encode_words(text.substr(s.begin, s.end - s.begin), out);
    }
  }

  void encode(std::span<const std::pair<std::string_view, Origin>> segs, std::vector<int32_t>& out) const {
    std::string text;
    size_t total = 0;
    bool any_content = false, any_template = false;
    for (const auto& [t, o] : segs) {
      total += t.size();
      (o == Origin::kContent ? any_content : any_template) = true;
    }
    text.reserve(total);
    std::vector<uint8_t> mark;  // [text.size()] 1 = user content; only if needed
    const bool need_marks = any_content && any_template && !(raw_matcher.empty() && norm_matcher.empty());
    for (const auto& [t, o] : segs) {
      append_utf8_lossy(text, t);
      if (need_marks) mark.resize(text.size(), o == Origin::kContent ? 1 : 0);
    }
    const uint8_t* m = need_marks ? mark.data() : nullptr;
    if (!any_template || raw_matcher.empty()) {
      // No added token can match: the text is one piece. (All-content input still goes
      // through the normalized matcher with every byte marked, so nothing matches.)
      if (!any_template) {
        std::vector<uint8_t> all(text.size(), 1);
        encode_piece(text, norm_matcher.empty() ? nullptr : all.data(), out);
      } else {
        encode_piece(text, m, out);
      }
      return;
    }
    std::vector<Split> splits;
    raw_matcher.split(text, m, 0, splits);
    for (const Split& s : splits) {
      if (s.id >= 0) out.push_back(s.id);
      else encode_piece(std::string_view(text).substr(s.begin, s.end - s.begin), m ? m + s.begin : nullptr, out);
    }
  }
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> Tokenizer::from_json(std::string_view tokenizer_json, std::string_view config_json,
                                                const std::string& label) {
  TokenizerSpec spec = parse_tokenizer_json(tokenizer_json, label);
  const std::string config_label = label + " (tokenizer_config.json)";
  if (!config_json.empty()) apply_tokenizer_config(config_json, config_label, spec);
  return from_spec(spec, label, config_label);
}

std::unique_ptr<Tokenizer> Tokenizer::from_vocab(const TokenizerVocab& v, const std::string& label) {
  TokenizerSpec spec;
  spec.nfc = true;
  spec.vocab.reserve(v.tokens.size());
  for (size_t id = 0; id < v.tokens.size(); ++id) {
    const TokenizerVocab::Token& t = v.tokens[id];
    if (!t.present) continue;
    if (t.added) {
      AddedToken a;
      a.content = t.text;
      a.id = static_cast<int32_t>(id);
      a.special = t.special;
      spec.added.push_back(std::move(a));
    } else {
      if (spec.vocab.find(t.text) >= 0) fail(label, ": token ", id, " '", t.text, "' appears twice");
      spec.vocab.set(t.text, static_cast<int32_t>(id));
    }
  }
  spec.merges = v.merges;
  auto name_of = [&](std::optional<int32_t> id) -> std::optional<std::string> {
    if (!id) return std::nullopt;
    if (*id < 0 || static_cast<size_t>(*id) >= v.tokens.size() || !v.tokens[*id].present) {
      fail(label, ": special token id ", *id, " names no token");
    }
    return v.tokens[*id].text;
  };
  spec.eos_token = name_of(v.eos_id);
  spec.pad_token = name_of(v.pad_id);
  return from_spec(spec, label, label);
}

std::unique_ptr<Tokenizer> Tokenizer::from_spec(TokenizerSpec& spec, const std::string& label,
                                                const std::string& config_label) {
  auto impl = std::make_unique<Impl>();
  impl->nfc = spec.nfc;
  // The id table is allocated up to the highest id: bound it before allocating (the fast
  // reader accepts any int32 id; an id near INT32_MAX would ask for gigabytes).
  int64_t max_id = -1;
  spec.vocab.for_each([&](std::string_view, int32_t id) { max_id = std::max<int64_t>(max_id, id); });
  for (const AddedToken& a : spec.added) max_id = std::max<int64_t>(max_id, a.id);
  if (max_id > limits::kMaxTokenId) {
    fail(label, ": token id ", max_id, " out of range (allowed: 0 to ", limits::kMaxTokenId, ")");
  }
  const auto n_ids = static_cast<int32_t>(max_id + 1);

  // id -> string: vocab first, added tokens override (as AddedVocabulary::id_to_token).
  HugeVector<std::string_view> strings(static_cast<size_t>(n_ids));
  impl->flags.assign(static_cast<size_t>(n_ids), 0);
  spec.vocab.for_each([&](std::string_view tok, int32_t id) {
    strings[id] = tok;
    impl->flags[id] |= kValid;
  });
  std::vector<std::string> raw_patterns, norm_patterns;
  std::vector<AddedToken> raw_tokens, norm_tokens;
  std::vector<std::string> decode_forms(spec.added.size());
  for (size_t i = 0; i < spec.added.size(); ++i) {
    const AddedToken& a = spec.added[i];
    if (a.content.empty()) continue;
    impl->added_ids[a.content] = a.id;
    impl->flags[a.id] |= kValid | kAdded;
    std::string pattern = a.content;
    if (a.normalized && spec.nfc) {
      pattern.clear();
      nfc_append(pattern, a.content);
    }
    decode_forms[i] = pattern;  // tokenizers decodes a normalized token by its normal form
    (a.normalized ? norm_patterns : raw_patterns).push_back(pattern);
    (a.normalized ? norm_tokens : raw_tokens).push_back(a);
  }
  for (size_t i = 0; i < spec.added.size(); ++i) {
    if (!spec.added[i].content.empty()) strings[spec.added[i].id] = decode_forms[i];
  }
  // A token is special for decoding if its string is the content of a special token
  // (tokenizers tests the token string against its special-token set).
  for (const AddedToken& a : spec.added) {
    if (!a.special || a.content.empty()) continue;
    impl->flags[a.id] |= kSpecial;
    if (const int32_t v = spec.vocab.find(a.content); v >= 0) impl->flags[v] |= kSpecial;
  }
  impl->raw_matcher = AddedTokenMatcher(std::move(raw_patterns), std::move(raw_tokens));
  impl->norm_matcher = AddedTokenMatcher(std::move(norm_patterns), std::move(norm_tokens));

  const ByteLevel& bl = ByteLevel::get();
  std::string decoded;
  impl->tok_off.reserve(n_ids + 1);
  impl->dec_off.reserve(n_ids + 1);
  size_t total = 0;
  for (std::string_view s : strings) total += s.size();
  impl->tok_buf.reserve(total);
  impl->dec_buf.reserve(total);
  for (int32_t id = 0; id < n_ids; ++id) {
    impl->tok_off.push_back(static_cast<uint32_t>(impl->tok_buf.size()));
    impl->dec_off.push_back(static_cast<uint32_t>(impl->dec_buf.size()));
    impl->tok_buf.append(strings[id]);
    decoded.clear();
    bl.decode_token(strings[id], decoded);
    impl->dec_buf.append(decoded);
  }
  impl->tok_off.push_back(static_cast<uint32_t>(impl->tok_buf.size()));
  impl->dec_off.push_back(static_cast<uint32_t>(impl->dec_buf.size()));

  try {
    impl->bpe = spec.merge_ids.empty() ? std::make_unique<Bpe>(std::move(spec.vocab), spec.merges, spec.bpe)
                                       : std::make_unique<Bpe>(std::move(spec.vocab), spec.merge_ids, spec.bpe);
  } catch (const Error& e) {
    fail(label, ": ", e.what());
  }

  std::unique_ptr<Tokenizer> tok(new Tokenizer(std::move(impl)));
  Impl& im = *tok->impl_;
  auto lookup = [&](const std::optional<std::string>& name, const char* field) -> int32_t {
    if (!name) return -1;
    const auto id = tok->token_to_id(*name);
    if (!id) fail(config_label, ": /", field, ": '", *name, "' is not a token");
    return *id;
  };
  const int32_t endoftext = tok->token_to_id("<|endoftext|>").value_or(-1);
  im.eos = spec.eos_token ? lookup(spec.eos_token, "eos_token") : endoftext;
  im.pad = spec.pad_token ? lookup(spec.pad_token, "pad_token") : (endoftext >= 0 ? endoftext : im.eos);
  return tok;
}

std::unique_ptr<Tokenizer> Tokenizer::load(const std::filesystem::path& tokenizer_json) {
  const MappedFile json(tokenizer_json);
  const std::filesystem::path config = tokenizer_json.parent_path() / "tokenizer_config.json";
  std::string config_json;
  if (std::filesystem::exists(config)) config_json = qg::read_file(config);
  return from_json(json.view(), config_json, tokenizer_json.string());
}

std::unique_ptr<Tokenizer> Tokenizer::from_model_dir(const std::filesystem::path& dir) {
  return load(dir / "tokenizer.json");
}

std::vector<int32_t> Tokenizer::encode(const Segments& segments) const {
  std::vector<std::pair<std::string_view, Origin>> views;
  views.reserve(segments.size());
  for (const Segment& s : segments) views.emplace_back(s.text, s.origin);
  std::vector<int32_t> out;
  impl_->encode(views, out);
  return out;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, Origin origin) const {
  const std::pair<std::string_view, Origin> one{text, origin};
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 1);
  impl_->encode(std::span(&one, 1), out);
  return out;
}

std::vector<std::vector<int32_t>> Tokenizer::encode_batch(std::span<const Segments> inputs) const {
  std::vector<std::vector<int32_t>> out;
  out.reserve(inputs.size());
  for (const Segments& s : inputs) out.push_back(encode(s));
  return out;
}

void Tokenizer::append_token_bytes(int32_t id, std::string& out, bool skip_special_tokens) const {
  if (id < 0 || id >= vocab_size()) return;
  const uint8_t f = impl_->flags[id];
  if (!(f & kValid) || (skip_special_tokens && (f & kSpecial))) return;
  out.append(impl_->dec_buf.data() + impl_->dec_off[id], impl_->dec_off[id + 1] - impl_->dec_off[id]);
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string bytes;
  for (int32_t id : ids) append_token_bytes(id, bytes, skip_special_tokens);
  std::string out;
  out.reserve(bytes.size());
  append_utf8_lossy(out, bytes);
  return out;
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (auto it = impl_->added_ids.find(std::string(token)); it != impl_->added_ids.end()) return it->second;
  if (const int32_t id = impl_->bpe->vocab().find(token); id >= 0) return id;
  return std::nullopt;
}

std::string Tokenizer::id_to_token(int32_t id) const {
  if (id < 0 || id >= vocab_size() || !(impl_->flags[id] & kValid)) fail("token id ", id, " is not in the vocabulary");
  return std::string(impl_->tok_buf.data() + impl_->tok_off[id], impl_->tok_off[id + 1] - impl_->tok_off[id]);
}

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(impl_->flags.size()); }
int32_t Tokenizer::eos_id() const { return impl_->eos; }
int32_t Tokenizer::pad_id() const { return impl_->pad; }

void Tokenizer::normalize(std::string_view valid_utf8, std::string& out) const {
  if (impl_->nfc && !nfc_quick_check(valid_utf8)) {
    nfc_append(out, valid_utf8);
  } else {
    out.append(valid_utf8);
  }
}

void Tokenizer::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  impl_->bpe->encode_word(piece, out);
}

bool Tokenizer::is_added(int32_t id) const {
  return id >= 0 && id < vocab_size() && (impl_->flags[id] & kAdded);
}
bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < vocab_size() && (impl_->flags[id] & kSpecial);
}

// ---- IncrementalDecoder --------------------------------------------------------------

IncrementalDecoder::IncrementalDecoder(const Tokenizer& tok, bool skip_special_tokens)
    : tok_(tok), skip_special_(skip_special_tokens) {}

std::string IncrementalDecoder::push(int32_t id) {
  tok_.append_token_bytes(id, pending_, skip_special_);
  // Emit everything up to the last complete sequence; an incomplete but still valid
  // prefix at the end waits for the next id (its fate depends only on later bytes, so
  // the result equals from_utf8_lossy of the whole stream).
  const auto* u = reinterpret_cast<const unsigned char*>(pending_.data());
  const size_t n = pending_.size();
  size_t i = 0;
  while (i < n) {
    if (u[i] < 0x80) { ++i; continue; }
    const int len = utf8_sequence_length(u + i, n - i);
    if (len == 0) break;
    i += static_cast<size_t>(len > 0 ? len : -len);
  }
  std::string out;
  append_utf8_lossy(out, std::string_view(pending_).substr(0, i));
  pending_.erase(0, i);
  return out;
}

std::string IncrementalDecoder::finish() {
  std::string out;
  append_utf8_lossy(out, pending_);
  pending_.clear();
  return out;
}

}  // namespace qg::tok
