// CONTRACT HEADER (written first so chat/ and guard/ can code against it; the
// tokenizer work fills in the implementation and may add to it, but must keep these
// signatures).
//
// tokenizer/: Qwen2/Qwen3 byte-level BPE loaded from a checkpoint's tokenizer.json,
// token-for-token identical to Hugging Face tokenizers (docs/tokenizer.md).
//
// Thread safety: a loaded Tokenizer is immutable apart from an internal word cache that
// is safe to share; every const method may be called from any number of threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/segment.h"

namespace qg::tok {

class Tokenizer {
 public:
  // tokenizer.json (+ tokenizer_config.json beside it, if present). Throws qg::Error
  // naming the JSON path of any problem.
  static std::unique_ptr<Tokenizer> load(const std::filesystem::path& tokenizer_json);
  static std::unique_ptr<Tokenizer> from_model_dir(const std::filesystem::path& dir);
  // From the file contents (config_json may be empty). label names them in errors.
  static std::unique_ptr<Tokenizer> from_json(std::string_view tokenizer_json,
                                              std::string_view config_json = {},
                                              const std::string& label = "tokenizer.json");
  ~Tokenizer();

  // Encodes the concatenation of the segments exactly as HF encodes the whole string,
  // except that added/special tokens are matched only inside kTemplate segments (a
  // match may not overlap kContent bytes). Normalisation, pre-tokenisation and BPE
  // run across segment boundaries. No BOS/EOS is added (Qwen3 adds none).
  // Invalid UTF-8 inside a segment is first replaced, per segment, by U+FFFD exactly
  // as Rust's String::from_utf8_lossy does (one U+FFFD per maximal ill-formed subpart).
  std::vector<int32_t> encode(const Segments& segments) const;
  std::vector<int32_t> encode(std::string_view text, Origin origin) const;
  // Several independent inputs (one thread; the caller may parallelise).
  std::vector<std::vector<int32_t>> encode_batch(std::span<const Segments> inputs) const;

  // ids -> text; invalid UTF-8 becomes U+FFFD (HF errors="replace"). Ids that name no
  // token are skipped, as HF does.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;
  // Raw bytes of the ids (byte-level inverse, no UTF-8 repair); for streaming.
  void append_token_bytes(int32_t id, std::string& out, bool skip_special_tokens = false) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;  // vocab or added token
  std::string id_to_token(int32_t id) const;                         // raw (byte-level) token string
  int32_t vocab_size() const;                                        // highest id + 1
  int32_t eos_id() const;  // tokenizer_config eos_token (<|im_end|>), else <|endoftext|>
  int32_t pad_id() const;  // tokenizer_config pad_token, else <|endoftext|>, else eos_id()

  bool is_added(int32_t id) const;    // listed in added_tokens (or added_tokens_decoder)
  bool is_special(int32_t id) const;  // skipped by skip_special_tokens

  // ---- The content pipeline in steps, for IncrementalEncoder (incremental_encoder.h).
  // encode(text, kContent) == for each Qwen2 piece p of normalize(lossy(text)):
  // encode_piece(p). Added tokens never match content, so no other step exists.
  // NFC of valid UTF-8 when tokenizer.json normalises (appended to out), else a copy.
  void normalize(std::string_view valid_utf8, std::string& out) const;
  // BPE of one pre-tokenizer piece (a whole Qwen2 split match of normalised text).
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Streaming decoder: feed ids one at a time and get back only whole UTF-8 characters.
// The concatenation of every push() result and finish() equals decode(all ids).
// Not thread-safe (one per stream); the Tokenizer must outlive it.
class IncrementalDecoder {
 public:
  explicit IncrementalDecoder(const Tokenizer& tok, bool skip_special_tokens = false);
  // Text completed by this id (possibly empty while a character is incomplete).
  std::string push(int32_t id);
  // Whatever is pending, with an unfinished character replaced by U+FFFD; then resets.
  std::string finish();

 private:
  const Tokenizer& tok_;
  bool skip_special_;
  std::string pending_;  // bytes of an incomplete UTF-8 character (at most 3)
};

}  // namespace qg::tok
