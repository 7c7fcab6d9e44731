// Whole-file reads for small text files (config.json, templates, JSONL inputs).
// Large binary data (checkpoints, tokenizer.json) is mapped by its own layer instead.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

#include "base/limits.h"

namespace qg {

// The file's bytes. Throws qg::Error naming the path when it cannot be opened or read,
// when it is a directory or a device (`/dev/zero` would never end), or when it holds more
// than `max_bytes`. Pipes and FIFOs (`<(...)`, /dev/stdin) are read up to `max_bytes`.
std::string read_file(const std::filesystem::path& path, size_t max_bytes = limits::kMaxTextFileBytes);

// Throws the same errors as read_file for a path that is a directory or a device, or
// that does not exist; for inputs that are streamed rather than read whole.
void check_readable_file(const std::filesystem::path& path);

}  // namespace qg
