// Fuzz target: tokenizer.json. A file that loads is then used: a short text with added
// tokens is encoded and the ids decoded, so a bad-but-accepted spec cannot hide.
#include <string>

#include "base/error.h"
#include "fuzz_util.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto tok = qg::tok::Tokenizer::from_json(qg::fuzz::as_text(data, size));
    const auto ids = tok->encode("Hello <|im_end|> w\xc3\xb6rld  123\n", qg::Origin::kTemplate);
    (void)tok->decode(ids);
    for (int32_t id : {0, 1, tok->vocab_size() - 1}) {
      if (id >= 0 && id < tok->vocab_size()) (void)tok->is_special(id);
    }
  } catch (const qg::Error&) {
  }
  return 0;
}
