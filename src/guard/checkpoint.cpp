// Loading a checkpoint folder or GGUF file (checkpoint.h).
#include "guard/checkpoint.h"

#include <fstream>
#include <iterator>

#include "base/error.h"
#include "weights/gguf.h"
#include "weights/gguf_qwen3.h"

namespace qg::guard {

namespace fs = std::filesystem;

bool is_gguf(const fs::path& model) { return weights::is_gguf_file(model); }

std::unique_ptr<model::Qwen3Model> load_model(const fs::path& model, std::optional<DType> dtype) {
  model::LoadOptions opts;
  opts.mode = weights::load_mode_from_env_or(weights::LoadMode::kMap);
  opts.dtype = dtype;
  return model::Qwen3Model::load(model, opts);
}

namespace {

// The header only (the tensor data stays unread): tokenizer metadata and the template.
weights::GgufHeader read_header(const fs::path& p) {
  const weights::MappedFile f(p);
  return weights::parse_gguf(f.data(), f.size(), f.name());
}

// GGUF token types (llama.cpp's llama_token_type).
constexpr int32_t kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6;

}  // namespace

std::unique_ptr<tok::Tokenizer> load_tokenizer(const fs::path& model) {
  if (!is_gguf(model)) return tok::Tokenizer::from_model_dir(model);
  const std::string name = model.filename().string();
  const weights::GgufHeader h = read_header(model);
  const weights::GgufTokenizerData d = weights::gguf_tokenizer_data(h, name);
  if (d.model != "gpt2") {
    fail(name, ": metadata key tokenizer.ggml.model is \"", d.model, "\"; only gpt2 (byte-level BPE) is supported");
  }
  if (!d.pre.empty() && d.pre != "qwen2") {
    fail(name, ": metadata key tokenizer.ggml.pre is \"", d.pre, "\"; only qwen2 is supported");
  }
  tok::TokenizerVocab v;
  v.tokens.resize(d.tokens.size());
  for (size_t i = 0; i < d.tokens.size(); ++i) {
    tok::TokenizerVocab::Token& t = v.tokens[i];
    t.text = d.tokens[i];
    switch (d.token_types[i]) {
      case kNormal:
      case kUnknown:
      case kByte: break;
      case kControl: t.added = t.special = true; break;
      case kUserDefined: t.added = true; break;
      case kUnused: t.present = false; break;
      default:
        fail(name, ": tokenizer.ggml.token_type[", i, "] = ", d.token_types[i], " is not a known token type");
    }
  }
  v.merges.reserve(d.merges.size());
  for (size_t i = 0; i < d.merges.size(); ++i) {
    const std::string& m = d.merges[i];
    const size_t sp = m.find(' ');
    if (sp == std::string::npos || sp == 0 || sp + 1 == m.size() || m.find(' ', sp + 1) != std::string::npos) {
      fail(name, ": tokenizer.ggml.merges[", i, "] = \"", m, "\" is not two tokens separated by one space");
    }
    v.merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
  }
  v.eos_id = d.eos_id;
  v.pad_id = d.pad_id;
  return tok::Tokenizer::from_vocab(v, name);
}

std::unique_ptr<chat::ChatTemplate> load_chat_template(const fs::path& model,
                                                       const std::optional<fs::path>& override_file) {
  if (!is_gguf(model)) return chat::ChatTemplate::from_model_dir(model, override_file);
  const std::string name = model.filename().string();
  std::unique_ptr<chat::ChatTemplate> t;
  if (override_file) {
    std::ifstream f(*override_file, std::ios::binary);
    if (!f) fail(override_file->string(), ": cannot open");
    t = chat::ChatTemplate::from_source(std::string(std::istreambuf_iterator<char>(f), {}),
                                        override_file->filename().string());
  }
  const weights::GgufHeader h = read_header(model);
  const weights::GgufTokenizerData d = weights::gguf_tokenizer_data(h, name);
  if (!t) {
    if (!d.chat_template) fail(name, ": no chat template (metadata key tokenizer.chat_template is missing)");
    t = chat::ChatTemplate::from_source(*d.chat_template, name + ": tokenizer.chat_template");
  }
  std::map<std::string, chat::Value> special;
  auto bind = [&](const char* key, std::optional<int32_t> id) {
    if (id) special[key] = chat::Value::string(d.tokens[static_cast<size_t>(*id)], Origin::kTemplate);
  };
  bind("eos_token", d.eos_id);
  bind("pad_token", d.pad_id);
  t->set_special_tokens(std::move(special));
  return t;
}

DType parse_compute_dtype(const std::string& s) {
  if (s == "bf16") return DType::kBF16;
  if (s == "q8_0") return DType::kQ8_0;
  if (s == "f32") return DType::kF32;
  fail("--dtype ", s, ": expected bf16, q8_0 or f32");
}

}  // namespace qg::guard
