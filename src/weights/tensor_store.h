// TensorStore: name -> TensorView for a whole checkpoint folder, single-file
// (model.safetensors) or sharded (model.safetensors.index.json + shards). It owns the
// mappings, so every view it hands out lives as long as the store. The typed model
// weights (model/qwen3_weights.h) are built from this map and never see a format.
//
// Thread safety: immutable after open(); lookups may run on any thread.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "weights/gguf.h"
#include "weights/safetensors.h"

namespace qg::weights {

class TensorStore {
 public:
  // Opens <dir>/model.safetensors.index.json if it exists (every shard it names must
  // exist and hold the tensors the index assigns to it), else <dir>/model.safetensors.
  // Throws qg::Error naming the file and tensor on any problem.
  // `mode`: mmap the files (default) or read them into memory (see LoadMode).
  static TensorStore open(const std::filesystem::path& dir, LoadMode mode = LoadMode::kMap);
  // One .safetensors file on its own (tests, tools).
  static TensorStore open_file(const std::filesystem::path& file, LoadMode mode = LoadMode::kMap);
  // A GGUF file of architecture qwen3 (weights/gguf_qwen3.h): its tensors under their HF
  // names (blk.3.attn_q.weight -> model.layers.3.self_attn.q_proj.weight).
  static TensorStore open_gguf(const std::filesystem::path& file, LoadMode mode = LoadMode::kMap);

  TensorStore(TensorStore&&) noexcept = default;
  TensorStore& operator=(TensorStore&&) noexcept = default;

  // nullptr when absent ("absent" is not an error: lm_head.weight may be absent).
  const TensorView* find(const std::string& name) const;
  // Throws "<where>: tensor <name> is missing" when absent.
  const TensorView& get(const std::string& name) const;

  size_t size() const { return by_name_.size(); }
  std::vector<std::string> names() const;  // sorted
  // "model.safetensors" or "model.safetensors.index.json" — where a missing tensor
  // was looked for, for error messages.
  const std::string& source() const { return source_; }
  size_t total_bytes() const;  // sum of the mapped file sizes

  // Forwards madvise to every mapped file (e.g. kWillNeed right after loading).
  void advise(Access access) const;

  // The GGUF file's header (metadata: config, tokenizer, chat template) when the store was
  // opened with open_gguf, else nullptr.
  const GgufHeader* gguf() const { return gguf_ ? &gguf_->header() : nullptr; }

 private:
  TensorStore() = default;
  void add_file(std::unique_ptr<SafetensorsFile> f, const std::map<std::string, std::string>* expect);

  std::string source_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;  // stable addresses for the views
  std::unique_ptr<GgufFile> gguf_;
  std::unique_ptr<std::vector<TensorView>> gguf_views_;  // HF-named views into gguf_
  std::map<std::string, const TensorView*> by_name_;
};

}  // namespace qg::weights
