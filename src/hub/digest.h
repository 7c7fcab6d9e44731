// File digests the hub publishes, computed with OpenSSL's EVP (Debian libssl): the
// sha256 of a file (what Git LFS files are named by: the hub's X-Linked-Etag and the
// listing's lfs.sha256) and the git blob id (sha1 of "blob <size>\0" + bytes: the ETag
// of small non-LFS files). Both stream the file in 1 MiB blocks, so a 16 GB shard is
// hashed in bounded memory.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace qg::hub {

// Lowercase hex digests. Throw qg::Error naming the file when it cannot be read.
std::string sha256_file(const std::filesystem::path& path);
std::string git_blob_sha1_file(const std::filesystem::path& path);

// Of a byte string (tests, and small bodies).
std::string sha256_hex(std::string_view bytes);
std::string git_blob_sha1_hex(std::string_view bytes);

}  // namespace qg::hub
