// Where conversations come from: the Message/Conversation types, the JSON shapes
// they arrive in (the CLI's --messages file and --input JSONL records; guard/ owns
// these input formats, so their parsing lives here), and the realistic inputs for
// `qwen3guard bench` and the guard tests: the public evaluation sets in
// shared/qwen3guard/datasets/ (their labels are not Qwen3Guard verdicts and are not
// used) and user prompt files.
#pragma once

#include <cstddef>
#include <filesystem>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qg::guard {

struct Message {
  std::string role;  // "system" | "user" | "assistant"
  std::string content;
};
using Conversation = std::vector<Message>;

Conversation prompt_conversation(std::string prompt);
Conversation response_conversation(std::string prompt, std::string response);

// One input record: the conversation and, when the record had one, its "id" echoed
// back verbatim in the result (as JSON text).
struct InputRecord {
  Conversation conversation;
  std::optional<std::string> id_json;
};

// Parses one JSON object: {"prompt": P}, {"prompt": P, "response": R} or
// {"messages": [{"role": ..., "content": ...}, ...]}, each with an optional "id".
// `where` prefixes error messages ("in.jsonl:12"). Throws qg::Error naming the
// field at fault.
InputRecord parse_input_record(std::string_view json_text, std::string_view where);

// A --messages file: either a JSON list of messages or one input record object.
Conversation parse_messages_file(std::string_view json_text, std::string_view where);

// One line of a line-oriented input (JSONL, prompt lists), without its "\n" or "\r\n".
// A line longer than max_bytes is not kept whole: its first max_bytes are, the rest of
// the line is skipped, and kTooLong says so (the caller reports that line and goes on).
enum class LineRead { kLine, kTooLong, kEnd };
LineRead read_line(std::istream& in, std::string& line, size_t max_bytes);

// ---- Datasets and prompt files

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
