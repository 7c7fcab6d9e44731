// libFuzzer target for the GGUF reader (src/weights/gguf.h): any byte string must either
// parse or throw qg::Error — no crash, no undefined behaviour, no allocation beyond what
// the input's own size justifies (counts and lengths are checked against the bytes left).
// When it parses, the qwen3 metadata mapping and the tokenizer-metadata extraction run too,
// and every tensor's first and last byte are read (they must lie inside the input).
//
//   clang++-16 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
//     fuzz/fuzz_gguf.cpp src/weights/gguf.cpp src/weights/gguf_qwen3.cpp src/weights/config.cpp \
//     src/weights/tensor_store.cpp src/weights/safetensors.cpp src/weights/mapped_file.cpp \
//     src/base/dtype.cpp src/base/error.cpp src/base/file.cpp -o fuzz_gguf
//   ./fuzz_gguf -max_total_time=60 fuzz/corpus/gguf
#include <cstddef>
#include <cstdint>

#include "base/dtype.h"
#include "base/error.h"
#include "weights/gguf.h"
#include "weights/gguf_qwen3.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace qg::weights;
  try {
    const GgufHeader h = parse_gguf(data, size, "fuzz.gguf");
    volatile uint8_t sink = 0;
    for (const GgufTensorInfo& t : h.tensors) {
      const qg::DType dt = gguf_tensor_dtype(t.ggml_type, t.name);
      uint64_t rows = 1;
      for (size_t d = 1; d < t.ne.size(); ++d) rows *= static_cast<uint64_t>(t.ne[d]);
      const uint64_t n = rows * qg::dtype_row_bytes(dt, t.ne[0]);
      if (n > 0) {
        sink = sink + data[h.data_start + t.offset] + data[h.data_start + t.offset + n - 1];
      }
    }
    try {
      const Qwen3Config c = qwen3_config_from_gguf(h, "fuzz.gguf");
      (void)gguf_stop_token_ids(h, c);
    } catch (const qg::Error&) {
    }
    try {
      (void)gguf_tokenizer_data(h, "fuzz.gguf");
    } catch (const qg::Error&) {
    }
    for (const GgufTensorInfo& t : h.tensors) {
      try {
        (void)gguf_to_hf_name(t.name, "fuzz.gguf");
      } catch (const qg::Error&) {
      }
    }
  } catch (const qg::Error&) {
  }
  return 0;
}
