// GGUF v3 reader (format in gguf.h). A bounds-checked cursor reads the header; every
// count and length from the file is compared with the bytes that remain before anything
// is allocated for it, so a hostile file costs at most its own size in memory.
#include "weights/gguf.h"

#include <algorithm>
#include <cstring>

#include "base/dtype.h"
#include "base/error.h"

namespace qg::weights {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32

// ggml_type ids (ggml.h) of the types this engine has kernels for.
struct GgmlType {
  uint32_t id;
  const char* name;
  bool supported;
  DType dtype;
};
constexpr GgmlType kGgmlTypes[] = {
    {0, "F32", true, DType::kF32},     {1, "F16", true, DType::kF16},
    {2, "Q4_0", true, DType::kQ4_0},   {3, "Q4_1", true, DType::kQ4_1},
    {6, "Q5_0", true, DType::kQ5_0},   {7, "Q5_1", true, DType::kQ5_1},
    {8, "Q8_0", true, DType::kQ8_0},   {9, "Q8_1", false, DType::kF32},
    {10, "Q2_K", true, DType::kQ2_K},  {11, "Q3_K", true, DType::kQ3_K},
    {12, "Q4_K", true, DType::kQ4_K},  {13, "Q5_K", true, DType::kQ5_K},
    {14, "Q6_K", true, DType::kQ6_K},  {15, "Q8_K", false, DType::kF32},
    {16, "IQ2_XXS", false, DType::kF32}, {17, "IQ2_XS", false, DType::kF32},
    {18, "IQ3_XXS", false, DType::kF32}, {19, "IQ1_S", false, DType::kF32},
    {20, "IQ4_NL", false, DType::kF32}, {21, "IQ3_S", false, DType::kF32},
    {22, "IQ2_S", false, DType::kF32},  {23, "IQ4_XS", false, DType::kF32},
    {24, "I8", false, DType::kF32},     {25, "I16", false, DType::kF32},
    {26, "I32", false, DType::kF32},    {27, "I64", false, DType::kF32},
    {28, "F64", false, DType::kF32},    {29, "IQ1_M", false, DType::kF32},
    {30, "BF16", true, DType::kBF16},
};

const GgmlType* find_ggml(uint32_t id) {
  for (const GgmlType& t : kGgmlTypes) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

class Cursor {
 public:
  Cursor(const uint8_t* d, size_t n, const std::string& name) : d_(d), n_(n), name_(name) {}
  size_t pos() const { return p_; }
  size_t left() const { return n_ - p_; }

  void need(uint64_t k, const std::string& what) const {
    if (k > left()) {
      fail(name_, ": ", what, " needs ", k, " bytes at offset ", p_, " but only ", left(),
           " remain (file truncated?)");
    }
  }
  template <typename T>
  T rd(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, d_ + p_, sizeof v);
    p_ += sizeof v;
    return v;
  }
  std::string str(const std::string& what) {
    const uint64_t len = rd<uint64_t>(what + " (string length)");
    need(len, what + " (string of " + std::to_string(len) + " bytes)");
    std::string s(reinterpret_cast<const char*>(d_ + p_), static_cast<size_t>(len));
    p_ += static_cast<size_t>(len);
    return s;
  }

 private:
  const uint8_t* d_;
  size_t n_;
  size_t p_ = 0;
  const std::string& name_;
};

// Smallest encoding of one element of `t`, for the count-vs-remaining-bytes check.
uint64_t min_elem_bytes(GgufType t) {
  switch (t) {
    case GgufType::kU8:
    case GgufType::kI8:
    case GgufType::kBool: return 1;
    case GgufType::kU16:
    case GgufType::kI16: return 2;
    case GgufType::kU32:
    case GgufType::kI32:
    case GgufType::kF32: return 4;
    case GgufType::kString: return 8;
    case GgufType::kArray: return 12;
    case GgufType::kU64:
    case GgufType::kI64:
    case GgufType::kF64: return 8;
  }
  return 1;
}

bool valid_type(uint32_t t) { return t <= 12; }

// Reads one scalar of type t into v (v.type already set).
void read_scalar(Cursor& c, GgufType t, GgufValue& v, const std::string& where) {
  switch (t) {
    case GgufType::kU8: v.i = c.rd<uint8_t>(where); break;
    case GgufType::kI8: v.i = c.rd<int8_t>(where); break;
    case GgufType::kU16: v.i = c.rd<uint16_t>(where); break;
    case GgufType::kI16: v.i = c.rd<int16_t>(where); break;
    case GgufType::kU32: v.i = c.rd<uint32_t>(where); break;
    case GgufType::kI32: v.i = c.rd<int32_t>(where); break;
    case GgufType::kU64: {
      const uint64_t u = c.rd<uint64_t>(where);
      if (u > static_cast<uint64_t>(INT64_MAX)) fail(where, ": u64 value ", u, " is too large");
      v.i = static_cast<int64_t>(u);
      break;
    }
    case GgufType::kI64: v.i = c.rd<int64_t>(where); break;
    case GgufType::kF32: v.f = c.rd<float>(where); break;
    case GgufType::kF64: v.f = c.rd<double>(where); break;
    case GgufType::kBool: {
      const uint8_t b = c.rd<uint8_t>(where);
      if (b > 1) fail(where, ": bool value ", int{b}, " is neither 0 nor 1");
      v.i = b;
      break;
    }
    case GgufType::kString: v.str = c.str(where); break;
    case GgufType::kArray: break;  // handled by read_value
  }
}

void read_value(Cursor& c, GgufType t, GgufValue& v, const std::string& where, int depth) {
  v.type = t;
  if (t != GgufType::kArray) return read_scalar(c, t, v, where);
  if (depth >= kGgufMaxDepth) fail(where, ": arrays nested deeper than ", kGgufMaxDepth);
  const uint32_t et = c.rd<uint32_t>(where + " (array element type)");
  if (!valid_type(et)) fail(where, ": unknown array element type ", et);
  v.elem = static_cast<GgufType>(et);
  v.count = c.rd<uint64_t>(where + " (array length)");
  // Check before reserving: count elements need at least count * min bytes.
  if (v.count > c.left() / min_elem_bytes(v.elem)) {
    fail(where, ": array of ", v.count, " ", gguf_type_name(v.elem), " elements cannot fit in the ",
         c.left(), " bytes that remain");
  }
  const size_t n = static_cast<size_t>(v.count);
  GgufValue tmp;
  switch (v.elem) {
    case GgufType::kString:
      v.strs.reserve(n);
      for (size_t k = 0; k < n; ++k) v.strs.push_back(c.str(where));
      break;
    case GgufType::kArray:
      v.arrs.resize(n);
      for (size_t k = 0; k < n; ++k) read_value(c, GgufType::kArray, v.arrs[k], cat(where, "[", k, "]"), depth + 1);
      break;
    case GgufType::kF32:
    case GgufType::kF64:
      v.floats.reserve(n);
      for (size_t k = 0; k < n; ++k) {
        read_scalar(c, v.elem, tmp, where);
        v.floats.push_back(tmp.f);
      }
      break;
    default:
      v.ints.reserve(n);
      for (size_t k = 0; k < n; ++k) {
        read_scalar(c, v.elem, tmp, where);
        v.ints.push_back(tmp.i);
      }
      break;
  }
}

}  // namespace

std::string_view gguf_type_name(GgufType t) {
  static constexpr const char* kNames[] = {"u8",  "i8",     "u16",   "i16", "u32", "i32", "f32",
                                           "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<uint32_t>(t);
  return i < 13 ? kNames[i] : "?";
}

std::string_view ggml_type_name(uint32_t id) {
  const GgmlType* t = find_ggml(id);
  return t != nullptr ? t->name : "unknown";
}

DType gguf_tensor_dtype(uint32_t id, const std::string& where) {
  const GgmlType* t = find_ggml(id);
  if (t == nullptr) fail(where, ": unknown ggml type ", id);
  if (!t->supported) fail(where, ": ggml type ", t->name, " (", id, ") is not supported by this engine");
  return t->dtype;
}

bool GgufValue::is_int() const {
  return type != GgufType::kF32 && type != GgufType::kF64 && type != GgufType::kString &&
         type != GgufType::kArray;
}
bool GgufValue::is_float() const { return type == GgufType::kF32 || type == GgufType::kF64; }

const GgufValue* GgufHeader::find(const std::string& key) const {
  auto it = kv.find(key);
  return it == kv.end() ? nullptr : &it->second;
}

namespace {
const GgufValue& must(const GgufHeader& h, const std::string& key, const std::string& name) {
  const GgufValue* v = h.find(key);
  if (v == nullptr) fail(name, ": metadata key ", key, " is missing");
  return *v;
}
}  // namespace

int64_t GgufHeader::get_int(const std::string& key, const std::string& name) const {
  const GgufValue& v = must(*this, key, name);
  if (!v.is_int()) fail(name, ": metadata key ", key, ": expected an integer, got ", gguf_type_name(v.type));
  return v.i;
}

double GgufHeader::get_float(const std::string& key, const std::string& name) const {
  const GgufValue& v = must(*this, key, name);
  if (v.is_float()) return v.f;
  if (v.is_int()) return static_cast<double>(v.i);
  fail(name, ": metadata key ", key, ": expected a number, got ", gguf_type_name(v.type));
}

const std::string& GgufHeader::get_string(const std::string& key, const std::string& name) const {
  const GgufValue& v = must(*this, key, name);
  if (v.type != GgufType::kString) {
    fail(name, ": metadata key ", key, ": expected a string, got ", gguf_type_name(v.type));
  }
  return v.str;
}

GgufHeader parse_gguf(const uint8_t* data, size_t size, const std::string& name) {
  Cursor c(data, size, name);
  GgufHeader h;
  if (size < 4 || c.rd<uint32_t>("magic") != kMagic) fail(name, ": not a GGUF file (bad magic)");
  h.version = c.rd<uint32_t>("version");
  if (h.version != 3) fail(name, ": GGUF version ", h.version, " is not supported (expected 3)");
  const uint64_t n_tensors = c.rd<uint64_t>("tensor count");
  const uint64_t n_kv = c.rd<uint64_t>("metadata count");
  // A key/value takes at least 8 + 4 + 1 bytes, a tensor info 8 + 4 + 8 + 4 + 8.
  if (n_kv > c.left() / 13) fail(name, ": metadata count ", n_kv, " cannot fit in a file of ", size, " bytes");
  if (n_tensors > c.left() / 32) fail(name, ": tensor count ", n_tensors, " cannot fit in a file of ", size, " bytes");

  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key = c.str(cat("metadata entry ", k, " key"));
    const std::string where = cat(name, ": metadata key ", key);
    const uint32_t t = c.rd<uint32_t>(where + " (type)");
    if (!valid_type(t)) fail(where, ": unknown value type ", t);
    GgufValue v;
    read_value(c, static_cast<GgufType>(t), v, where, 0);
    if (h.kv.count(key)) fail(where, ": duplicate key");
    h.key_order.push_back(key);
    h.kv.emplace(std::move(key), std::move(v));
  }
  if (const GgufValue* a = h.find("general.alignment")) {
    if (a->type != GgufType::kU32 || a->i == 0 || (a->i & (a->i - 1)) != 0) {
      fail(name, ": metadata key general.alignment must be a u32 power of two");
    }
    h.alignment = static_cast<uint64_t>(a->i);
  }

  h.tensors.reserve(static_cast<size_t>(n_tensors));
  std::map<std::string, size_t> seen;
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensorInfo ti;
    ti.name = c.str(cat("tensor info ", k, " name"));
    const std::string where = cat(name, ": tensor ", ti.name);
    const uint32_t nd = c.rd<uint32_t>(where + " (n_dims)");
    if (nd < 1 || nd > kGgufMaxDims) fail(where, ": ", nd, " dimensions (expected 1..", kGgufMaxDims, ")");
    uint64_t numel = 1;
    for (uint32_t d = 0; d < nd; ++d) {
      const uint64_t ne = c.rd<uint64_t>(where + " (dimension)");
      if (ne == 0 || ne > (1ull << 40) || __builtin_mul_overflow(numel, ne, &numel) || numel > (1ull << 42)) {
        fail(where, ": dimension ", d, " = ", ne, " is zero or too large");
      }
      ti.ne.push_back(static_cast<int64_t>(ne));
    }
    ti.ggml_type = c.rd<uint32_t>(where + " (type)");
    ti.offset = c.rd<uint64_t>(where + " (offset)");
    if (seen.count(ti.name)) fail(where, ": duplicate tensor name");
    seen.emplace(ti.name, h.tensors.size());
    h.tensors.push_back(std::move(ti));
  }
  // The data section starts at the next multiple of the alignment.
  const uint64_t pos = c.pos();
  h.data_start = (pos + h.alignment - 1) / h.alignment * h.alignment;
  if (h.data_start > size) fail(name, ": file ends inside the padding before the data section");
  const uint64_t data_size = size - h.data_start;

  struct Span {
    uint64_t begin, end;
    size_t index;
  };
  std::vector<Span> spans;
  for (size_t k = 0; k < h.tensors.size(); ++k) {
    const GgufTensorInfo& ti = h.tensors[k];
    const std::string where = cat(name, ": tensor ", ti.name);
    const DType dt = gguf_tensor_dtype(ti.ggml_type, where);
    const int64_t be = dtype_block_elems(dt);
    if (ti.ne[0] % be != 0) {
      fail(where, ": ", ggml_type_name(ti.ggml_type), " rows need a multiple of ", be, " elements, ne[0] is ",
           ti.ne[0]);
    }
    uint64_t rows = 1;
    for (size_t d = 1; d < ti.ne.size(); ++d) rows *= static_cast<uint64_t>(ti.ne[d]);
    const uint64_t nbytes = rows * dtype_row_bytes(dt, ti.ne[0]);
    // Kernels read f32/f16/bf16 elements through typed pointers: their data must be aligned
    // to the element size in the file (the mapping itself is page-aligned).
    if ((h.data_start + ti.offset) % std::max<size_t>(1, dtype_size(dt)) != 0) {
      fail(where, ": data at file offset ", h.data_start + ti.offset, " is not aligned to its ",
           dtype_size(dt), "-byte elements");
    }
    if (ti.offset % h.alignment != 0) {
      fail(where, ": data offset ", ti.offset, " is not a multiple of the alignment ", h.alignment);
    }
    if (ti.offset > data_size || nbytes > data_size - ti.offset) {
      fail(where, ": data [", ti.offset, ", ", ti.offset + nbytes, ") lies outside the data section of ",
           data_size, " bytes (file truncated?)");
    }
    spans.push_back({ti.offset, ti.offset + nbytes, k});
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  for (size_t k = 1; k < spans.size(); ++k) {
    if (spans[k].begin < spans[k - 1].end) {
      fail(name, ": tensor ", h.tensors[spans[k].index].name, " overlaps tensor ",
           h.tensors[spans[k - 1].index].name);
    }
  }
  return h;
}

GgufFile::GgufFile(const std::filesystem::path& path, LoadMode mode) : file_(path, mode) {
  const std::string fname = file_.name();
  file_.advise(Access::kSequential, 0, std::min<size_t>(file_.size(), 64u << 20));
  header_ = parse_gguf(file_.data(), file_.size(), fname);
  tensors_.reserve(header_.tensors.size());
  for (const GgufTensorInfo& ti : header_.tensors) {
    TensorView v;
    v.name = ti.name;
    v.file = fname;
    v.dtype = gguf_tensor_dtype(ti.ggml_type, ti.name);
    v.shape.assign(ti.ne.rbegin(), ti.ne.rend());  // PyTorch order: outermost first
    uint64_t rows = 1;
    for (size_t d = 1; d < ti.ne.size(); ++d) rows *= static_cast<uint64_t>(ti.ne[d]);
    v.nbytes = static_cast<size_t>(rows * dtype_row_bytes(v.dtype, ti.ne[0]));
    v.data = file_.data() + header_.data_start + ti.offset;
    tensors_.push_back(std::move(v));
  }
  file_.advise(Access::kRandom);
}

}  // namespace qg::weights
