// The safetensors file format (https://huggingface.co/docs/safetensors), read over
// mmap. Layout: u64 little-endian header length N, N bytes of JSON
// {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...,
// "__metadata__": {...}}, then the data section; offsets are relative to its start.
//
// Everything is validated before a single view is handed out, so a truncated or
// corrupt file gives an Error naming the file, the tensor and the problem instead of
// a crash or garbage logits: header length vs file size, JSON syntax and types,
// dtype (BF16/F16/F32 only), shape × element size == byte length, offsets inside the
// data section, no two tensors overlapping, element alignment.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "weights/mapped_file.h"
#include "weights/tensor_view.h"

namespace qg::weights {

class SafetensorsFile {
 public:
  // Maps and validates one .safetensors file. Throws qg::Error on any problem.
  explicit SafetensorsFile(const std::filesystem::path& path, LoadMode mode = LoadMode::kMap);

  const MappedFile& file() const { return file_; }
  const std::vector<TensorView>& tensors() const { return tensors_; }  // header order

 private:
  MappedFile file_;
  std::vector<TensorView> tensors_;
};

// Parses a safetensors dtype string ("BF16", "F16", "F32"); throws naming `where`
// for any other (including valid-but-unsupported ones such as "I64" or "F8_E4M3").
DType parse_safetensors_dtype(const std::string& s, const std::string& where);

}  // namespace qg::weights
