// Safetensors parsing and validation (see safetensors.h for the checks made). The
// header JSON is parsed with nlohmann-json; only this file and config.cpp /
// tensor_store.cpp know the on-disk formats.
#include "weights/safetensors.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/limits.h"

namespace qg::weights {

namespace {

// The reference implementation refuses headers above 100 MB; a real header is a few
// hundred KB even for 8B models. The cap also stops a corrupt length from making us
// hand a huge span to the JSON parser.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::string TensorView::shape_str() const { return shape_to_string(shape); }

DType parse_safetensors_dtype(const std::string& s, const std::string& where) {
  if (s == "BF16") return DType::kBF16;
  if (s == "F16") return DType::kF16;
  if (s == "F32") return DType::kF32;
  fail(where, ": unsupported dtype \"", s, "\" (supported: BF16, F16, F32)");
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path, LoadMode mode) : file_(path, mode) {
  const std::string fname = file_.name();
  const size_t fsize = file_.size();
  if (fsize < 8) fail(fname, ": file is truncated: ", fsize, " bytes, less than the 8-byte header length");
  const uint64_t header_len = read_u64_le(file_.data());
  if (header_len > fsize - 8) {
    fail(fname, ": header length ", header_len, " runs past the end of the file (file size ", fsize,
         " bytes): the file is truncated or not a safetensors file");
  }
  if (header_len > kMaxHeaderBytes) fail(fname, ": header length ", header_len, " exceeds the 100 MB limit");
  if (header_len < 2) fail(fname, ": header length ", header_len, " is too small for a JSON object");

  const char* hbegin = reinterpret_cast<const char*>(file_.data() + 8);
  limits::check_json_depth(std::string_view(hbegin, static_cast<size_t>(header_len)), fname + ": header");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(hbegin, hbegin + header_len);
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is 1-based within the header; report the file offset as well.
    fail(fname, ": header is not valid JSON (header byte ", e.byte, ", file offset ", 8 + e.byte - 1,
         "): ", e.what());
  } catch (const nlohmann::json::exception& e) {  // a number out of range (1e400)
    fail(fname, ": header is not valid JSON: ", e.what());
  }
  if (!header.is_object()) fail(fname, ": header JSON is not an object");

  const size_t data_start = 8 + static_cast<size_t>(header_len);
  const size_t data_size = fsize - data_start;
  const uint8_t* data = file_.data() + data_start;

  struct Span {
    uint64_t begin, end;
    size_t index;
  };
  std::vector<Span> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") continue;  // free-form string map, not a tensor
    const std::string where = cat(fname, ": tensor ", name);
    const auto& t = it.value();
    if (!t.is_object()) fail(where, ": header entry is not an object");
    if (!t.contains("dtype") || !t["dtype"].is_string()) fail(where, ": missing or non-string \"dtype\"");
    if (!t.contains("shape") || !t["shape"].is_array()) fail(where, ": missing or non-array \"shape\"");
    if (!t.contains("data_offsets") || !t["data_offsets"].is_array() || t["data_offsets"].size() != 2) {
      fail(where, ": \"data_offsets\" must be an array [begin, end]");
    }

    TensorView v;
    v.name = name;
    v.file = fname;
    v.dtype = parse_safetensors_dtype(t["dtype"].get<std::string>(), where);
    if (t["shape"].size() > 8) fail(where, ": shape has ", t["shape"].size(), " dimensions (allowed: up to 8)");
    uint64_t numel = 1;
    for (const auto& d : t["shape"]) {
      if (!d.is_number_unsigned()) fail(where, ": shape ", t["shape"].dump(), " has a non-integer or negative dimension");
      const uint64_t dim = d.get<uint64_t>();
      if (dim > (1ull << 40) || __builtin_mul_overflow(numel, dim, &numel)) {
        fail(where, ": shape ", t["shape"].dump(), " is too large");
      }
      v.shape.push_back(static_cast<int64_t>(dim));
    }
    const auto& off = t["data_offsets"];
    if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
      fail(where, ": data_offsets ", off.dump(), " must be non-negative integers");
    }
    const uint64_t begin = off[0].get<uint64_t>();
    const uint64_t end = off[1].get<uint64_t>();
    if (begin > end) fail(where, ": data_offsets ", off.dump(), " has begin > end");
    if (end > data_size) {
      fail(where, ": data_offsets ", off.dump(), " out of range: the data section has ", data_size,
           " bytes (file truncated?)");
    }
    uint64_t expect = 0;
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dtype_size(v.dtype)), &expect)) {
      fail(where, ": shape ", v.shape_str(), " is too large");
    }
    if (end - begin != expect) {
      fail(where, ": byte length ", end - begin, " (data_offsets ", off.dump(), ") does not match shape ",
           v.shape_str(), " x ", dtype_name(v.dtype), " = ", expect, " bytes");
    }
    // Kernels read elements through typed pointers; an element that straddles its
    // natural alignment would be undefined behaviour, so refuse it here.
    if ((data_start + begin) % dtype_size(v.dtype) != 0) {
      fail(where, ": data at file offset ", data_start + begin, " is not aligned to its ",
           dtype_size(v.dtype), "-byte elements");
    }
    v.data = data + begin;
    v.nbytes = static_cast<size_t>(end - begin);
    spans.push_back({begin, end, tensors_.size()});
    tensors_.push_back(std::move(v));
  }

  // Overlap check: sort by start; each non-empty tensor must start at or after the
  // previous one's end. Two tensors sharing bytes would silently alias weights.
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const Span* prev = nullptr;
  for (const Span& s : spans) {
    if (s.begin == s.end) continue;
    if (prev != nullptr && s.begin < prev->end) {
      fail(fname, ": tensor ", tensors_[s.index].name, " (bytes ", s.begin, "..", s.end,
           ") overlaps tensor ", tensors_[prev->index].name, " (bytes ", prev->begin, "..", prev->end, ")");
    }
    prev = &s;
  }
}

}  // namespace qg::weights
