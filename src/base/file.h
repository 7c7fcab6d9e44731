// Whole-file reads for small text files (config.json, templates, JSONL inputs).
// Large binary data (checkpoints, tokenizer.json) is mapped by its own layer instead.
#pragma once

#include <filesystem>
#include <string>

namespace qg {

// The file's bytes. Throws qg::Error "<path>: cannot open: <reason>" when it cannot be read.
std::string read_file(const std::filesystem::path& path);

}  // namespace qg
