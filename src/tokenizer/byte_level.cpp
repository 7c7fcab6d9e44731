// tokenizer/byte_level: the byte <-> character table (see byte_level.h).
#include "tokenizer/byte_level.h"

#include "tokenizer/unicode.h"

namespace qg::tok {

const ByteLevel& ByteLevel::get() {
  static const ByteLevel table;
  return table;
}

ByteLevel::ByteLevel() {
  inverse_.fill(-1);
  int extra = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    const char32_t cp = printable ? static_cast<char32_t>(b) : 0x100 + extra++;
    std::string s;
    append_utf8(s, cp);
    lens_[b] = static_cast<uint8_t>(s.size());
    for (size_t i = 0; i < s.size(); ++i) chars_[b][i] = s[i];
    inverse_[cp] = static_cast<int16_t>(b);
  }
}

std::string ByteLevel::encode(std::string_view bytes) const {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out.append(byte_to_string(b));
  return out;
}

void ByteLevel::decode_token(std::string_view token, std::string& out) const {
  const size_t mark = out.size();
  size_t i = 0;
  while (i < token.size()) {
    size_t len;
    const char32_t cp = decode_utf8(token.data() + i, &len);
    const int b = char_to_byte(cp);
    if (b < 0) {
      out.resize(mark);
      out.append(token);
      return;
    }
    out.push_back(static_cast<char>(b));
    i += len;
  }
}

}  // namespace qg::tok
