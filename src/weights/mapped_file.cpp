// POSIX implementation of MappedFile (mmap + madvise). The descriptor is closed
// right after mapping: the mapping keeps the file alive on its own.
#include "weights/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
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

MappedFile::MappedFile(const std::filesystem::path& path) : path_(path) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) fail(path.string(), ": cannot open: ", std::strerror(errno));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) fail(path.string(), ": cannot stat: ", std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail(path.string(), ": not a regular file");
  size_ = static_cast<size_t>(st.st_size);
  if (size_ == 0) return;
  void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, f.fd, 0);
  if (p == MAP_FAILED) fail(path.string(), ": cannot mmap ", size_, " bytes: ", std::strerror(errno));
  data_ = static_cast<const uint8_t*>(p);
}

MappedFile::~MappedFile() { release(); }

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void MappedFile::release() noexcept {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
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
