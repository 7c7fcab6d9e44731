// Fuzz target: one .safetensors file (u64 header length, JSON header, data section).
// The input is the whole file; it is validated and every tensor view is read once.
#include "base/error.h"
#include "fuzz_util.h"
#include "weights/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static qg::fuzz::MemFile file;
  const std::string path = file.write(data, size);
  try {
    qg::weights::SafetensorsFile f(path);
    volatile uint8_t sink = 0;
    for (const auto& t : f.tensors()) {
      if (t.nbytes > 0) sink = sink + static_cast<const uint8_t*>(t.data)[t.nbytes - 1];
      (void)t.numel();
    }
  } catch (const qg::Error&) {
  }
  return 0;
}
