// SHA-256 and git blob ids via OpenSSL EVP (see digest.h). The library, not a
// hand-written hash: it is in Debian, constant-time-reviewed, and uses SHA-NI/AVX2.
#include "hub/digest.h"

#include <openssl/evp.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "base/error.h"

namespace qg::hub {
namespace {

struct CtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

class Hasher {
 public:
  explicit Hasher(const EVP_MD* md) : ctx_(EVP_MD_CTX_new()) {
    QG_CHECK(ctx_ && EVP_DigestInit_ex(ctx_.get(), md, nullptr) == 1, "EVP_DigestInit_ex failed");
  }
  void update(const void* data, size_t n) {
    QG_CHECK(EVP_DigestUpdate(ctx_.get(), data, n) == 1, "EVP_DigestUpdate failed");
  }
  std::string hex() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    QG_CHECK(EVP_DigestFinal_ex(ctx_.get(), out, &n) == 1, "EVP_DigestFinal_ex failed");
    static const char* kHex = "0123456789abcdef";
    std::string s;
    for (unsigned int i = 0; i < n; ++i) {
      s += kHex[out[i] >> 4];
      s += kHex[out[i] & 15];
    }
    return s;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx_;
};

void hash_file_into(Hasher& h, const std::filesystem::path& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) fail(path.string(), ": cannot open for hashing");
  std::vector<char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) h.update(buf.data(), n);
  if (std::ferror(f.get())) fail(path.string(), ": read error while hashing");
}

std::string blob_header(uintmax_t size) { return cat("blob ", size, std::string(1, '\0')); }

}  // namespace

std::string sha256_file(const std::filesystem::path& path) {
  Hasher h(EVP_sha256());
  hash_file_into(h, path);
  return h.hex();
}

std::string git_blob_sha1_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) fail(path.string(), ": cannot stat for hashing: ", ec.message());
  Hasher h(EVP_sha1());
  const std::string head = blob_header(size);
  h.update(head.data(), head.size());
  hash_file_into(h, path);
  return h.hex();
}

std::string sha256_hex(std::string_view bytes) {
  Hasher h(EVP_sha256());
  h.update(bytes.data(), bytes.size());
  return h.hex();
}

std::string git_blob_sha1_hex(std::string_view bytes) {
  Hasher h(EVP_sha1());
  const std::string head = blob_header(bytes.size());
  h.update(head.data(), head.size());
  h.update(bytes.data(), bytes.size());
  return h.hex();
}

}  // namespace qg::hub
