// Fuzz target: config.json (Qwen3Config::parse), including every range check.
#include "base/error.h"
#include "fuzz_util.h"
#include "weights/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto c = qg::weights::Qwen3Config::parse(std::string(qg::fuzz::as_text(data, size)), "config.json");
    (void)c.q_dim();
    (void)c.kv_dim();
  } catch (const qg::Error&) {
  }
  return 0;
}
