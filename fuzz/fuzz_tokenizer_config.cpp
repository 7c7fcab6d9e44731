// Fuzz target: tokenizer_config.json (apply_tokenizer_config) over the added tokens of a
// small valid tokenizer.json (the seed in fuzz/corpus/tokenizer_json/, parsed once). One
// input in 64 also builds the whole Tokenizer from the result, so a config that is accepted
// must also give a working tokenizer; the rest stay fast.
#include <string>

#include "base/error.h"
#include "base/file.h"
#include "fuzz_util.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string tokenizer_json = qg::read_file(QG_FUZZ_DIR "/corpus/tokenizer_json/mini_tokenizer.json");
  static const qg::tok::TokenizerSpec base = qg::tok::parse_tokenizer_json(tokenizer_json, "mini");
  const std::string_view text = qg::fuzz::as_text(data, size);
  try {
    qg::tok::TokenizerSpec spec;
    spec.added = base.added;
    qg::tok::apply_tokenizer_config(text, "tokenizer_config.json", spec);
    if (size % 64 == 0) {
      const auto tok = qg::tok::Tokenizer::from_json(tokenizer_json, text);
      (void)tok->eos_id();
      (void)tok->decode(tok->encode("a <|im_end|> b", qg::Origin::kTemplate));
    }
  } catch (const qg::Error&) {
  }
  return 0;
}
