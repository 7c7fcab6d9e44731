// tokenizer/byte_level: GPT-2's reversible byte <-> printable-character map used by the
// ByteLevel pre-tokenizer and decoder. Bytes 0x21-0x7E, 0xA1-0xAC and 0xAE-0xFF map to
// the code point of the same value; the other 68 bytes map to U+0100 + n in byte order.
// Knows nothing of vocabularies.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace qg::tok {

class ByteLevel {
 public:
  static const ByteLevel& get();

  // UTF-8 of the character that stands for byte b.
  std::string_view byte_to_string(uint8_t b) const { return {chars_[b].data(), lens_[b]}; }
  // Maps every byte of bytes to its character.
  std::string encode(std::string_view bytes) const;
  // Hugging Face's ByteLevel decoder for one token: if every character of token is a
  // byte-level character, appends those bytes; otherwise appends token unchanged.
  // token must be valid UTF-8.
  void decode_token(std::string_view token, std::string& out) const;
  // Byte for code point cp, or -1.
  int char_to_byte(char32_t cp) const { return cp < 0x144 ? inverse_[cp] : -1; }

 private:
  ByteLevel();
  std::array<std::array<char, 2>, 256> chars_{};
  std::array<uint8_t, 256> lens_{};
  std::array<int16_t, 0x144> inverse_{};  // code point -> byte, -1 if none
};

}  // namespace qg::tok
