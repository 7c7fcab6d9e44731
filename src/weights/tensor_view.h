// TensorView: a non-owning, typed window onto tensor bytes inside a mapped file.
// Produced by the safetensors reader, consumed by model/ (which never learns what
// file format the bytes came from). Valid as long as the TensorStore that made it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/dtype.h"

namespace qg::weights {

struct TensorView {
  std::string name;            // HF name, e.g. "model.layers.0.self_attn.q_proj.weight"
  std::string file;            // file name it lives in (for error messages)
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // PyTorch order, e.g. [out, in] for a Linear weight
  const void* data = nullptr;  // [numel()] elements of dtype, aligned to dtype_size(dtype)
  size_t nbytes = 0;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  // "[1024, 151936]" — for messages.
  std::string shape_str() const;
};

// Renders a shape as "[a, b, c]".
std::string shape_to_string(const std::vector<int64_t>& shape);

}  // namespace qg::weights
