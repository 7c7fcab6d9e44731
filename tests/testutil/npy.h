// Test helper: reads a little-endian float32 .npy file (NumPy format 1.0/2.0, C order),
// as written by the golden generators in tools/reference/. Header-only, tests only.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace qg::testutil {

struct NpyF32 {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

inline NpyF32 read_npy_f32(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error(path + ": cannot open");
  char magic[8];
  f.read(magic, 8);
  if (!f || std::memcmp(magic, "\x93NUMPY", 6) != 0) throw std::runtime_error(path + ": not a .npy file");
  uint32_t hlen = 0;
  if (magic[6] == 1) {
    uint8_t b[2];
    f.read(reinterpret_cast<char*>(b), 2);
    hlen = b[0] | (b[1] << 8);
  } else {
    uint8_t b[4];
    f.read(reinterpret_cast<char*>(b), 4);
    hlen = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
  }
  std::string header(hlen, '\0');
  f.read(header.data(), hlen);
  if (header.find("'descr': '<f4'") == std::string::npos) throw std::runtime_error(path + ": not <f4");
  if (header.find("'fortran_order': False") == std::string::npos) throw std::runtime_error(path + ": fortran order");
  NpyF32 out;
  const size_t s = header.find("'shape': (");
  if (s == std::string::npos) throw std::runtime_error(path + ": no shape");
  size_t i = s + 10;
  int64_t numel = 1;
  while (i < header.size() && header[i] != ')') {
    if (std::isdigit(static_cast<unsigned char>(header[i]))) {
      const int64_t d = std::stoll(header.substr(i));
      out.shape.push_back(d);
      numel *= d;
      while (std::isdigit(static_cast<unsigned char>(header[i]))) ++i;
    } else {
      ++i;
    }
  }
  out.data.resize(static_cast<size_t>(numel));
  f.read(reinterpret_cast<char*>(out.data.data()), static_cast<std::streamsize>(numel * 4));
  if (!f) throw std::runtime_error(path + ": truncated data");
  return out;
}

}  // namespace qg::testutil
