// The GGUF v3 file format (llama.cpp's ggml files), read over mmap. Layout, all little-
// endian: "GGUF", u32 version (3), u64 tensor count, u64 metadata count; metadata as
// (string key, u32 type, value) with strings as u64 length + bytes and arrays as u32
// element type + u64 count + elements (arrays may nest); tensor infos as (string name,
// u32 n_dims, u64 ne[n_dims] innermost first, u32 ggml type, u64 offset); padding to
// general.alignment (default 32); then the data section, which the offsets index.
//
// Everything is validated before a view is handed out, with errors naming the file and
// the key or tensor: magic, version, every count and string length against the bytes
// left (checked before anything is allocated), array nesting depth (kMaxDepth), value
// types, duplicate keys and names, dimensions (1..4, positive, no overflow, innermost a
// multiple of the type's block), types this engine has kernels for, offsets aligned and
// inside the file, no two tensors overlapping. Tensor views use PyTorch axis order
// ([ne1, ne0] for a matrix) and the GGUF names; weights/gguf_qwen3.h maps them to HF's.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "weights/mapped_file.h"
#include "weights/tensor_view.h"

namespace qg::weights {

enum class GgufType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
std::string_view gguf_type_name(GgufType t);

// One metadata value. Integers of every width are held in `i` (u64 values above
// INT64_MAX are refused), floats in `f`; arrays keep their element type, with numbers in
// `ints`/`floats`, strings in `strs`, nested arrays in `arrs`.
struct GgufValue {
  GgufType type = GgufType::kU8;
  int64_t i = 0;
  double f = 0.0;
  std::string str;
  GgufType elem = GgufType::kU8;  // arrays only
  uint64_t count = 0;             // arrays only
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strs;
  std::vector<GgufValue> arrs;

  bool is_int() const;    // any integer type or bool
  bool is_float() const;  // f32 or f64
};

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> ne;  // GGUF order, innermost first
  uint32_t ggml_type = 0;
  uint64_t offset = 0;      // in the data section
};

// The parsed header of a GGUF file (no tensor data); the fuzz target drives this.
struct GgufHeader {
  uint32_t version = 0;
  uint64_t alignment = 32;
  uint64_t data_start = 0;  // file offset of the data section
  std::map<std::string, GgufValue> kv;
  std::vector<std::string> key_order;  // file order
  std::vector<GgufTensorInfo> tensors;

  // Typed lookups; `name` names the file in errors. get_* throw when the key is absent
  // or has another type; find returns nullptr when absent.
  const GgufValue* find(const std::string& key) const;
  int64_t get_int(const std::string& key, const std::string& name) const;
  double get_float(const std::string& key, const std::string& name) const;  // int or float
  const std::string& get_string(const std::string& key, const std::string& name) const;
};

constexpr int kGgufMaxDepth = 4;          // nested arrays
constexpr uint64_t kGgufMaxDims = 4;      // GGML_MAX_DIMS

// Parses and validates the whole file image (header + tensor extents against `size`).
// `name` is used in error messages.
GgufHeader parse_gguf(const uint8_t* data, size_t size, const std::string& name);

// ggml type id -> DType; throws naming the tensor for types without kernels here.
DType gguf_tensor_dtype(uint32_t ggml_type, const std::string& where);
std::string_view ggml_type_name(uint32_t ggml_type);

class GgufFile {
 public:
  explicit GgufFile(const std::filesystem::path& path, LoadMode mode = LoadMode::kMap);
  const MappedFile& file() const { return file_; }
  const GgufHeader& header() const { return header_; }
  const std::vector<TensorView>& tensors() const { return tensors_; }  // GGUF names, file order

 private:
  MappedFile file_;
  GgufHeader header_;
  std::vector<TensorView> tensors_;
};

}  // namespace qg::weights
