// Shared helpers for the tokenizer tests: the real Qwen3 tokenizer (loaded once per test
// binary) and the paths of the committed goldens. Paths come from CMake definitions.
#pragma once

#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "tokenizer/tokenizer.h"

namespace qg::tok::test {

inline std::string shared_tokenizer_path() { return QG_TOKENIZER_JSON; }
inline std::string golden_path(const std::string& name) { return std::string(QG_GOLDEN_DIR) + "/" + name; }

inline std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The Qwen3 tokenizer from ../shared, loaded once.
inline const Tokenizer& qwen3() {
  static const std::unique_ptr<Tokenizer> tok = Tokenizer::load(shared_tokenizer_path());
  return *tok;
}

inline std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

}  // namespace qg::tok::test
