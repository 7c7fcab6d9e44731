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

// How the bytes get into memory.
enum class LoadMode : uint8_t {
  // mmap the file: instant, pages shared with the page cache, nothing copied. The default.
  kMap,
  // Read the file into private anonymous memory (transparent huge pages requested).
  // Costs a full read at load, but on some virtual machines streaming page-cache
  // pages is several times slower than streaming anonymous memory, which is what
  // decoding does with every weight for every token (docs/model.md, "Load modes").
  // RSS is the same (the page-cache pages are not mapped into the process).
  kRead,
};

// QG_LOAD_MODE=map|read from the environment, else `fallback`; throws on other values.
LoadMode load_mode_from_env_or(LoadMode fallback);

class MappedFile {
 public:
  // Maps (or reads, see LoadMode) the whole file, read-only afterwards. Throws
  // qg::Error naming the file on any failure. An empty file is valid: size() == 0,
  // data() == nullptr.
  explicit MappedFile(const std::filesystem::path& path, LoadMode mode = LoadMode::kMap);
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
  size_t mapped_len_ = 0;  // length passed to munmap (kRead rounds up to huge pages)
};

}  // namespace qg::weights
