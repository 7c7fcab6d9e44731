// Realistic moderation inputs for `qwen3guard bench` and the guard tests: the public
// evaluation sets in shared/qwen3guard/datasets/ (their labels are not Qwen3Guard
// verdicts and are not used), and user prompt files.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "guard/conversation.h"

namespace qg::guard {

// name: "xstest" (450 English prompts), "xstest-response" (the same prompts with a
// Mistral-7B-Instruct completion: response moderation), "sst" (SimpleSafetyTests,
// 100 prompts), "rtp-lx" (2,600 prompts in 26 locales). datasets_dir is
// shared/qwen3guard/datasets. Throws qg::Error naming the file and line at fault.
std::vector<Conversation> load_dataset(std::string_view name, const std::filesystem::path& datasets_dir);
std::string dataset_names();  // "xstest, xstest-response, sst, rtp-lx"

// A prompts file: *.jsonl -> input records (as classify --input); anything else ->
// one prompt per non-empty line.
std::vector<Conversation> load_prompts_file(const std::filesystem::path& path);

// RFC 4180 CSV (quoted fields, "" escapes, newlines inside quotes) -> rows of fields.
std::vector<std::vector<std::string>> parse_csv(std::string_view text, std::string_view where);

}  // namespace qg::guard
