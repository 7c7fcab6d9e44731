// Builds the name -> view map from one safetensors file or from a shard index.
// The index format (model.safetensors.index.json, written by transformers'
// save_pretrained) is {"metadata": {...}, "weight_map": {"tensor name": "shard file"}}.
#include "weights/tensor_store.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "base/error.h"
#include "base/file.h"
#include "weights/gguf_qwen3.h"
#include "base/limits.h"

namespace qg::weights {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";


}  // namespace

TensorStore TensorStore::open_file(const fs::path& file, LoadMode mode) {
  TensorStore s;
  s.source_ = file.filename().string();
  s.add_file(std::make_unique<SafetensorsFile>(file, mode), nullptr);
  return s;
}

TensorStore TensorStore::open(const fs::path& dir, LoadMode mode) {
  const fs::path index = dir / kIndexFile;
  if (!fs::exists(index)) {
    if (!fs::exists(dir / kSingleFile)) {
      fail(dir.string(), ": no ", kSingleFile, " or ", kIndexFile, " in this folder");
    }
    return open_file(dir / kSingleFile, mode);
  }

  TensorStore s;
  s.source_ = kIndexFile;
  nlohmann::json j;
  const std::string text = qg::read_file(index);
  limits::check_json_depth(text, kIndexFile);
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    fail(kIndexFile, ": not valid JSON (byte ", e.byte, "): ", e.what());
  } catch (const nlohmann::json::exception& e) {  // a number out of range (1e400)
    fail(kIndexFile, ": not valid JSON: ", e.what());
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
    fail(kIndexFile, ": /weight_map is missing or not an object");
  }
  // shard file -> (tensor -> shard file) restricted to that shard, so each shard is
  // checked for exactly the tensors the index promises it holds.
  std::map<std::string, std::map<std::string, std::string>> per_shard;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it.value().is_string()) fail(kIndexFile, ": /weight_map/", it.key(), " is not a string");
    const std::string shard = it.value().get<std::string>();
    // The index may only point at files inside the checkpoint folder.
    // A NUL would cut the name short at the system call (open "a.safetensors\0../x"
    // opens "a.safetensors"); control characters have no business in a file name.
    const bool control = std::any_of(shard.begin(), shard.end(), [](char ch) {
      return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
    });
    if (shard.empty() || control || shard.find('/') != std::string::npos || shard.find('\\') != std::string::npos ||
        shard == "." || shard == "..") {
      std::string shown;
      for (char ch : shard) {
        if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) shown += cat("\\x", std::hex, +static_cast<unsigned char>(ch));
        else shown += ch;
      }
      fail(kIndexFile, ": /weight_map/", it.key(), ": shard name \"", shown,
           "\" is not a plain file name (no '/', '\\' or control characters)");
    }
    per_shard[shard][it.key()] = shard;
  }
  if (per_shard.empty()) fail(kIndexFile, ": /weight_map is empty");
  for (const auto& [shard, expect] : per_shard) {
    const fs::path p = dir / shard;
    if (!fs::exists(p)) {
      fail(kIndexFile, ": shard ", shard, " (holding tensor ", expect.begin()->first, " and ",
           expect.size() - 1, " more) is missing from ", dir.string());
    }
    s.add_file(std::make_unique<SafetensorsFile>(p, mode), &expect);
  }
  return s;
}

void TensorStore::add_file(std::unique_ptr<SafetensorsFile> f,
                           const std::map<std::string, std::string>* expect) {
  const SafetensorsFile& file = *f;
  files_.push_back(std::move(f));
  for (const TensorView& v : file.tensors()) {
    // A tensor in a shard that the index does not list is ignored, as transformers
    // does: the index is the source of truth for which file holds what.
    if (expect != nullptr && !expect->count(v.name)) continue;
    auto [it, inserted] = by_name_.emplace(v.name, &v);
    if (!inserted) {
      fail(file.file().name(), ": tensor ", v.name, " is also defined in ", it->second->file);
    }
  }
  if (expect != nullptr) {
    for (const auto& [name, shard] : *expect) {
      const TensorView* v = find(name);
      if (v == nullptr || v->file != shard) {
        fail(shard, ": tensor ", name, " is listed in ", kIndexFile, " but missing from the shard");
      }
    }
  }
}

const TensorView* TensorStore::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

const TensorView& TensorStore::get(const std::string& name) const {
  const TensorView* v = find(name);
  if (v == nullptr) fail(source_, ": tensor ", name, " is missing");
  return *v;
}

std::vector<std::string> TensorStore::names() const {
  std::vector<std::string> out;
  out.reserve(by_name_.size());
  for (const auto& kv : by_name_) out.push_back(kv.first);
  return out;
}

size_t TensorStore::total_bytes() const {
  size_t n = 0;
  for (const auto& f : files_) n += f->file().size();
  if (gguf_) n += gguf_->file().size();
  return n;
}

void TensorStore::advise(Access access) const {
  for (const auto& f : files_) f->file().advise(access);
  if (gguf_) gguf_->file().advise(access);
}

TensorStore TensorStore::open_gguf(const fs::path& file, LoadMode mode) {
  TensorStore s;
  s.gguf_ = std::make_unique<GgufFile>(file, mode);
  s.source_ = s.gguf_->file().name();
  s.gguf_views_ = std::make_unique<std::vector<TensorView>>(gguf_to_hf_views(*s.gguf_));
  for (const TensorView& v : *s.gguf_views_) {
    auto [it, inserted] = s.by_name_.emplace(v.name, &v);
    if (!inserted) fail(s.source_, ": two GGUF tensors map to ", v.name);
  }
  return s;
}

}  // namespace qg::weights
