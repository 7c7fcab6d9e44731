// CONTRACT HEADER (written first so chat/ and guard/ can code against it; the
// tokenizer work fills in the implementation and may add to it, but must keep these
// signatures).
//
// tokenizer/: Qwen2/Qwen3 byte-level BPE loaded from a checkpoint's tokenizer.json,
// token-for-token identical to Hugging Face tokenizers.
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
  ~Tokenizer();

  // Encodes the concatenation of the segments exactly as HF encodes the whole string,
  // except that added/special tokens are matched only inside kTemplate segments (a
  // match may not overlap kContent bytes). Normalisation, pre-tokenisation and BPE
  // run across segment boundaries. No BOS/EOS is added (Qwen3 adds none).
  std::vector<int32_t> encode(const Segments& segments) const;
  std::vector<int32_t> encode(std::string_view text, Origin origin) const;

  // ids -> text; invalid UTF-8 becomes U+FFFD (HF errors="replace").
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;  // vocab or added token
  std::string id_to_token(int32_t id) const;                         // raw (byte-level) token string
  int32_t vocab_size() const;                                        // highest id + 1
  int32_t eos_id() const;  // tokenizer_config eos_token (<|im_end|>), else <|endoftext|>
  int32_t pad_id() const;
};

}  // namespace qg::tok
