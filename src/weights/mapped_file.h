// A read-only memory mapping of one file. The weights of a checkpoint are never
// copied: tensors are views into mappings like this one, so a 16 GB checkpoint costs
// address space, not heap, and the kernel can drop clean pages under pressure.
//
// Thread safety: immutable after construction; data() may be read from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace qg::weights {

// How the pages will be accessed; forwarded to madvise().
enum class Access : uint8_t {
  kNormal,
  kSequential,  // read once front to back (headers, validation)
  kRandom,      // weights: each matmul walks one tensor, the order is not file order
  kWillNeed,    // start reading the whole file in the background now
};

class MappedFile {
 public:
  // Maps the whole file read-only. Throws qg::Error naming the file on any failure.
  // An empty file is valid and maps to size() == 0, data() == nullptr.
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }
  // The file name only ("model-00001-of-00003.safetensors"), as error messages use it.
  std::string name() const { return path_.filename().string(); }

  // Advice for [offset, offset+length) (whole file when length == 0). Best effort:
  // failures are ignored because they never change results.
  void advise(Access access, size_t offset = 0, size_t length = 0) const;

 private:
  void release() noexcept;

  std::filesystem::path path_;
  const uint8_t* data_ = nullptr;  // [size_] bytes, PROT_READ, MAP_PRIVATE
  size_t size_ = 0;
};

}  // namespace qg::weights
