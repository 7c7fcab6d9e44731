// Fuzz target: model.safetensors.index.json. The input is the index; the folder holds two
// small valid shards (a.safetensors with tensors x and y, b.safetensors with z), so an
// index that names them gets as far as the per-shard checks.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "base/error.h"
#include "fuzz_util.h"
#include "weights/tensor_store.h"

namespace {

void write_shard(const std::filesystem::path& p, const std::string& header, size_t data_bytes) {
  std::string h = header;
  while ((8 + h.size()) % 8 != 0) h += ' ';
  std::ofstream f(p, std::ios::binary);
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) f.put(static_cast<char>((n >> (8 * i)) & 0xff));
  f << h << std::string(data_bytes, '\0');
}

std::filesystem::path make_dir() {
  // tmpfs when there is one: every execution rewrites the index file.
  char tmpl[] = "/dev/shm/qg-fuzz-index-XXXXXX";
  char fallback[] = "/tmp/qg-fuzz-index-XXXXXX";
  const char* d = ::mkdtemp(tmpl);
  if (d == nullptr) d = ::mkdtemp(fallback);
  if (d == nullptr) std::abort();
  const std::filesystem::path dir(d);
  write_shard(dir / "a.safetensors",
              R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"BF16","shape":[2,2],"data_offsets":[8,16]}})",
              16);
  write_shard(dir / "b.safetensors", R"({"z":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}})", 8);
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path dir = make_dir();
  {
    std::ofstream f(dir / "model.safetensors.index.json", std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    const auto store = qg::weights::TensorStore::open(dir);
    for (const auto& name : store.names()) (void)store.get(name).shape_str();
  } catch (const qg::Error&) {
  }
  return 0;
}
