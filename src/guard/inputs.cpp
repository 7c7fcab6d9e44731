// Input records, datasets and prompt files (see inputs.h). nlohmann-json stays in
// this file and jsonl.cpp. A tiny CSV reader is written here rather than adding a
// dependency: the dataset files are RFC 4180 with quoted multi-line fields, and
// nothing else in the project reads CSV.
#include "guard/inputs.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/file.h"
#include "base/limits.h"

namespace qg::guard {
namespace {

using nlohmann::json;

std::string string_field(const json& obj, const char* key, std::string_view where) {
  const auto it = obj.find(key);
  if (it == obj.end()) fail(where, ": missing field \"", key, "\"");
  if (!it->is_string()) fail(where, ": field \"", key, "\" must be a string, got ", it->type_name());
  return it->get<std::string>();
}

Conversation messages_from(const json& list, std::string_view where) {
  if (!list.is_array()) fail(where, ": \"messages\" must be a list, got ", list.type_name());
  if (list.empty()) fail(where, ": \"messages\" is empty");
  Conversation conv;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string at = cat(where, ": messages[", i, "]");
    if (!list[i].is_object()) fail(at, " must be an object with role and content");
    Message m{string_field(list[i], "role", at), string_field(list[i], "content", at)};
    if (m.role != "user" && m.role != "assistant" && m.role != "system")
      fail(at, ": role \"", m.role, "\" is not one of system, user, assistant");
    conv.push_back(std::move(m));
  }
  return conv;
}

json parse_json(std::string_view text, std::string_view where) {
  limits::check_json_depth(text, std::string(where));
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    fail(where, ": invalid JSON at byte ", e.byte, ": ", e.what());
  } catch (const json::exception& e) {  // e.g. a number out of range: 1e400
    fail(where, ": invalid JSON: ", e.what());
  }
}

InputRecord record_from(const json& j, std::string_view where) {
  if (!j.is_object()) fail(where, ": expected a JSON object, got ", j.type_name());
  InputRecord rec;
  if (auto id = j.find("id"); id != j.end()) rec.id_json = id->dump();
  if (j.contains("messages")) {
    if (j.contains("prompt") || j.contains("response"))
      fail(where, ": give either \"messages\" or \"prompt\"/\"response\", not both");
    rec.conversation = messages_from(j["messages"], where);
  } else if (j.contains("prompt")) {
    std::string prompt = string_field(j, "prompt", where);
    rec.conversation = j.contains("response")
                           ? response_conversation(std::move(prompt), string_field(j, "response", where))
                           : prompt_conversation(std::move(prompt));
  } else {
    fail(where, ": expected a \"prompt\" or a \"messages\" field");
  }
  return rec;
}

}  // namespace

LineRead read_line(std::istream& in, std::string& line, size_t max_bytes) {
  line.clear();
  std::streambuf* sb = in.rdbuf();
  if (sb == nullptr || !in.good()) return LineRead::kEnd;
  bool any = false, too_long = false;
  for (;;) {
    const int c = sb->sbumpc();
    if (c == std::char_traits<char>::eof()) {
      in.setstate(std::ios::eofbit);
      if (!any) return LineRead::kEnd;
      break;
    }
    any = true;
    if (c == '\n') break;
    if (line.size() < max_bytes) line.push_back(static_cast<char>(c));
    else too_long = true;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return too_long ? LineRead::kTooLong : LineRead::kLine;
}

Conversation prompt_conversation(std::string prompt) { return {{"user", std::move(prompt)}}; }

Conversation response_conversation(std::string prompt, std::string response) {
  return {{"user", std::move(prompt)}, {"assistant", std::move(response)}};
}

InputRecord parse_input_record(std::string_view json_text, std::string_view where) {
  return record_from(parse_json(json_text, where), where);
}

Conversation parse_messages_file(std::string_view json_text, std::string_view where) {
  const json j = parse_json(json_text, where);
  if (j.is_array()) return messages_from(j, where);
  return record_from(j, where).conversation;
}

namespace {

// Column `name` of a CSV file with a header row, one value per data row.
std::vector<std::vector<std::string>> csv_columns(const std::filesystem::path& path,
                                                  const std::vector<std::string>& names) {
  const auto rows = parse_csv(read_file(path), path.string());
  if (rows.empty()) fail(path.string(), ": empty CSV");
  std::vector<size_t> idx;
  for (const auto& n : names) {
    const auto it = std::find(rows[0].begin(), rows[0].end(), n);
    if (it == rows[0].end()) fail(path.string(), ": no column \"", n, "\" in the header");
    idx.push_back(static_cast<size_t>(it - rows[0].begin()));
  }
  std::vector<std::vector<std::string>> out;
  for (size_t r = 1; r < rows.size(); ++r) {
    std::vector<std::string> vals;
    for (size_t i : idx) {
      if (i >= rows[r].size()) fail(path.string(), ": row ", r + 1, " has only ", rows[r].size(), " fields");
      vals.push_back(rows[r][i]);
    }
    out.push_back(std::move(vals));
  }
  return out;
}

std::vector<Conversation> jsonl_records(const std::filesystem::path& path) {
  check_readable_file(path);
  std::ifstream in(path);
  if (!in) fail(path.string(), ": cannot open");
  std::vector<Conversation> out;
  std::string line;
  for (int64_t n = 1;; ++n) {
    const LineRead got = read_line(in, line, limits::kMaxLineBytes);
    if (got == LineRead::kEnd) break;
    if (got == LineRead::kTooLong) fail(path.string(), ":", n, ": line longer than ", limits::kMaxLineBytes >> 20, " MiB");
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    out.push_back(parse_input_record(line, cat(path.string(), ":", n)).conversation);
  }
  return out;
}

}  // namespace

std::vector<std::vector<std::string>> parse_csv(std::string_view text, std::string_view where) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, field_started = false;
  int64_t line = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') ++line;
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"' && !field_started) {
      quoted = field_started = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      field_started = false;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;  // CRLF: the \n ends the row
      row.push_back(std::move(field));
      rows.push_back(std::move(row));
      row.clear();
      field.clear();
      field_started = false;
    } else {
      field += c;
      field_started = true;
    }
  }
  if (quoted) fail(where, ": line ", line, ": unterminated quoted field");
  if (field_started || !row.empty()) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string dataset_names() { return "xstest, xstest-response, sst, rtp-lx"; }

std::vector<Conversation> load_dataset(std::string_view name, const std::filesystem::path& dir) {
  std::vector<Conversation> out;
  if (name == "xstest") {
    for (auto& v : csv_columns(dir / "xstest_prompts.csv", {"prompt"})) out.push_back(prompt_conversation(v[0]));
  } else if (name == "xstest-response") {
    for (auto& v : csv_columns(dir / "xstest_v2_completions_mistralinstruct.csv", {"prompt", "completion"}))
      out.push_back(response_conversation(v[0], v[1]));
  } else if (name == "sst") {
    for (auto& v : csv_columns(dir / "simple_safety_tests.csv", {"prompts_final"}))
      out.push_back(prompt_conversation(v[0]));
  } else if (name == "rtp-lx") {
    out = jsonl_records(dir / "rtp-lx-sample.jsonl");
  } else {
    fail("unknown dataset '", name, "' (known: ", dataset_names(), ")");
  }
  if (out.empty()) fail("dataset ", name, " in ", dir.string(), " is empty");
  return out;
}

std::vector<Conversation> load_prompts_file(const std::filesystem::path& path) {
  if (path.extension() == ".jsonl") return jsonl_records(path);
  check_readable_file(path);
  std::ifstream in(path);
  if (!in) fail(path.string(), ": cannot open");
  std::vector<Conversation> out;
  std::string line;
  for (int64_t n = 1;; ++n) {
    const LineRead got = read_line(in, line, limits::kMaxLineBytes);
    if (got == LineRead::kEnd) break;
    if (got == LineRead::kTooLong) fail(path.string(), ":", n, ": line longer than ", limits::kMaxLineBytes >> 20, " MiB");
    if (!line.empty()) out.push_back(prompt_conversation(line));
  }
  if (out.empty()) fail(path.string(), ": no prompts");
  return out;
}

}  // namespace qg::guard
