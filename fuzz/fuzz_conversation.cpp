// Fuzz target: the guard's conversation readers. The input is read as a JSONL batch
// (bounded line reader + one input record per line, as `classify --input` reads it) and
// as a --messages file.
#include <sstream>
#include <string>

#include "base/error.h"
#include "fuzz_util.h"
#include "guard/inputs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(qg::fuzz::as_text(data, size));
  std::istringstream in(text);
  std::string line;
  for (int n = 1;; ++n) {
    const auto got = qg::guard::read_line(in, line, 4096);
    if (got == qg::guard::LineRead::kEnd) break;
    try {
      (void)qg::guard::parse_input_record(line, "fuzz.jsonl:" + std::to_string(n));
    } catch (const qg::Error&) {
    }
  }
  try {
    (void)qg::guard::parse_messages_file(text, "fuzz.json");
  } catch (const qg::Error&) {
  }
  return 0;
}
