// Fuzz target: tokenizer_config.json applied to a small valid tokenizer.json (the seed
// tokenizer in fuzz/corpus/tokenizer_json/, read once).
#include <cstdlib>
#include <string>

#include "base/error.h"
#include "base/file.h"
#include "fuzz_util.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string tokenizer_json = qg::read_file(QG_FUZZ_DIR "/corpus/tokenizer_json/mini_tokenizer.json");
  try {
    const auto tok = qg::tok::Tokenizer::from_json(tokenizer_json, qg::fuzz::as_text(data, size));
    (void)tok->eos_id();
    (void)tok->decode(tok->encode("a <|im_end|> b", qg::Origin::kTemplate));
  } catch (const qg::Error&) {
  }
  return 0;
}
