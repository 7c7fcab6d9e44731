// Test helper: builds GGUF v3 files byte by byte (format in src/weights/gguf.h), so the
// reader's tests and the fuzz seeds need no fixtures, and corrupt variants are easy to make.
// Header-only, tests only.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace qg::testutil {

class GgufBuilder {
 public:
  std::vector<uint8_t> kv;       // encoded key/value entries
  uint64_t n_kv = 0;
  std::vector<uint8_t> infos;    // encoded tensor infos
  uint64_t n_tensors = 0;
  std::vector<uint8_t> data;     // data section
  uint32_t alignment = 32;

  template <typename T>
  static void put(std::vector<uint8_t>& b, T v) {
    const size_t o = b.size();
    b.resize(o + sizeof v);
    std::memcpy(b.data() + o, &v, sizeof v);
  }
  static void put_str(std::vector<uint8_t>& b, const std::string& s) {
    put<uint64_t>(b, s.size());
    b.insert(b.end(), s.begin(), s.end());
  }

  void key(const std::string& k, uint32_t type) {
    put_str(kv, k);
    put<uint32_t>(kv, type);
    ++n_kv;
  }
  void kv_u32(const std::string& k, uint32_t v) { key(k, 4); put(kv, v); }
  void kv_f32(const std::string& k, float v) { key(k, 6); put(kv, v); }
  void kv_str(const std::string& k, const std::string& v) { key(k, 8); put_str(kv, v); }
  void kv_strs(const std::string& k, const std::vector<std::string>& v) {
    key(k, 9);
    put<uint32_t>(kv, 8);
    put<uint64_t>(kv, v.size());
    for (const auto& s : v) put_str(kv, s);
  }
  void kv_i32s(const std::string& k, const std::vector<int32_t>& v) {
    key(k, 9);
    put<uint32_t>(kv, 5);
    put<uint64_t>(kv, v.size());
    for (int32_t x : v) put(kv, x);
  }

  // A tensor with ne (innermost first), ggml type, and its bytes appended to the data section.
  void tensor(const std::string& name, const std::vector<uint64_t>& ne, uint32_t type,
              const std::vector<uint8_t>& bytes) {
    while (data.size() % alignment) data.push_back(0);
    put_str(infos, name);
    put<uint32_t>(infos, static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) put(infos, d);
    put<uint32_t>(infos, type);
    put<uint64_t>(infos, data.size());
    data.insert(data.end(), bytes.begin(), bytes.end());
    ++n_tensors;
  }

  std::vector<uint8_t> build() const {
    std::vector<uint8_t> f;
    put<uint32_t>(f, 0x46554747);
    put<uint32_t>(f, 3);
    put<uint64_t>(f, n_tensors);
    put<uint64_t>(f, n_kv);
    f.insert(f.end(), kv.begin(), kv.end());
    f.insert(f.end(), infos.begin(), infos.end());
    while (f.size() % alignment) f.push_back(0);
    f.insert(f.end(), data.begin(), data.end());
    return f;
  }
};

}  // namespace qg::testutil
