// Helpers shared by the fuzz targets. A target must return 0 for every input: qg::Error
// is the expected outcome for bad input and is swallowed; anything else escaping (another
// exception type, a crash, a sanitizer report, a timeout, memory past -rss_limit_mb) is a
// finding.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace qg::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// An in-memory file with a path (/proc/self/fd/N), for readers that take a path.
class MemFile {
 public:
  MemFile() : fd_(::memfd_create("qg-fuzz", MFD_CLOEXEC)) {}
  ~MemFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  // Replaces the contents; returns the path to open.
  std::string write(const uint8_t* data, size_t size) {
    (void)::ftruncate(fd_, 0);
    size_t off = 0;
    while (off < size) {
      const ssize_t n = ::pwrite(fd_, data + off, size - off, static_cast<off_t>(off));
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    return "/proc/self/fd/" + std::to_string(fd_);
  }

 private:
  int fd_;
};

}  // namespace qg::fuzz
