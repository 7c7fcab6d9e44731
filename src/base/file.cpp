#include "base/file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "base/error.h"

namespace qg {

void check_readable_file(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail(path.string(), ": cannot open: ", std::strerror(errno));
  if (S_ISDIR(st.st_mode)) fail(path.string(), ": is a directory, not a file");
  if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode)) {
    fail(path.string(), ": not a regular file (a device or special file cannot be an input)");
  }
}

std::string read_file(const std::filesystem::path& path, size_t max_bytes) {
  check_readable_file(path);
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) fail(path.string(), ": cannot open: ", std::strerror(errno));
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const size_t got = std::fread(buf, 1, sizeof buf, f.get());
    if (got > max_bytes - out.size()) {
      fail(path.string(), ": larger than the ", max_bytes >> 20, " MiB limit for this kind of file");
    }
    out.append(buf, got);
    if (got < sizeof buf) break;
  }
  if (std::ferror(f.get())) fail(path.string(), ": read error: ", std::strerror(errno));
  return out;
}

}  // namespace qg
