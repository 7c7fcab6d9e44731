// POSIX implementation of MappedFile (mmap + madvise, or pread into anonymous
// memory for LoadMode::kRead). The descriptor is closed right after: the mapping
// keeps the file alive on its own.
#include "weights/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "base/error.h"

namespace qg::weights {

namespace {

// Closes a descriptor on every exit path of the constructor.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

LoadMode load_mode_from_env_or(LoadMode fallback) {
  const char* v = std::getenv("QG_LOAD_MODE");
  if (v == nullptr || *v == '\0') return fallback;
  if (std::strcmp(v, "map") == 0) return LoadMode::kMap;
  if (std::strcmp(v, "read") == 0) return LoadMode::kRead;
  fail("QG_LOAD_MODE=", v, ": expected map or read");
}

MappedFile::MappedFile(const std::filesystem::path& path, LoadMode mode) : path_(path) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) fail(path.string(), ": cannot open: ", std::strerror(errno));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) fail(path.string(), ": cannot stat: ", std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail(path.string(), ": not a regular file");
  size_ = static_cast<size_t>(st.st_size);
  if (size_ == 0) return;
  if (mode == LoadMode::kMap) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, f.fd, 0);
    if (p == MAP_FAILED) fail(path.string(), ": cannot mmap ", size_, " bytes: ", std::strerror(errno));
    data_ = static_cast<const uint8_t*>(p);
    mapped_len_ = size_;
    return;
  }
  // kRead: anonymous memory rounded up to 2 MB so it can be backed by huge pages.
  constexpr size_t kHuge = size_t{2} << 20;
  mapped_len_ = (size_ + kHuge - 1) / kHuge * kHuge;
  void* p = ::mmap(nullptr, mapped_len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) fail(path.string(), ": cannot allocate ", size_, " bytes: ", std::strerror(errno));
  (void)::madvise(p, mapped_len_, MADV_HUGEPAGE);
  auto* dst = static_cast<uint8_t*>(p);
  size_t off = 0;
  while (off < size_) {
    const ssize_t got = ::pread(f.fd, dst + off, std::min(size_ - off, size_t{64} << 20), static_cast<off_t>(off));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      const int err = errno;
      ::munmap(p, mapped_len_);
      fail(path.string(), ": read failed at byte ", off, ": ", got == 0 ? "unexpected end of file" : std::strerror(err));
    }
    off += static_cast<size_t>(got);
  }
  // Read-only from here on, like the kMap mapping: a stray write faults.
  (void)::mprotect(p, mapped_len_, PROT_READ);
  data_ = dst;
}

MappedFile::~MappedFile() { release(); }

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      mapped_len_(std::exchange(other.mapped_len_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    mapped_len_ = std::exchange(other.mapped_len_, 0);
  }
  return *this;
}

void MappedFile::release() noexcept {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), mapped_len_);
  data_ = nullptr;
  size_ = 0;
  mapped_len_ = 0;
}

void MappedFile::advise(Access access, size_t offset, size_t length) const {
  if (data_ == nullptr || offset >= size_) return;
  if (length == 0 || length > size_ - offset) length = size_ - offset;
  // madvise wants a page-aligned start: round the start down, extend the length.
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t start = offset / page * page;
  length += offset - start;
  int advice = MADV_NORMAL;
  switch (access) {
    case Access::kNormal: advice = MADV_NORMAL; break;
    case Access::kSequential: advice = MADV_SEQUENTIAL; break;
    case Access::kRandom: advice = MADV_RANDOM; break;
    case Access::kWillNeed: advice = MADV_WILLNEED; break;
  }
  (void)::madvise(const_cast<uint8_t*>(data_) + start, length, advice);
}

}  // namespace qg::weights
