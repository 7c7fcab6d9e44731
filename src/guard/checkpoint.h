// The three things a moderation needs from a checkpoint — weights, tokenizer, chat
// template — from either form a user may hold: a Hugging Face folder (config.json,
// safetensors, tokenizer.json, tokenizer_config.json) or one GGUF file (llama.cpp's
// format; the community Qwen3Guard quantizations). This is the glue between weights/
// (which reads GGUF metadata but knows no tokenizer) and tokenizer/ and chat/ (which know
// no GGUF): it lives in guard/, the lowest layer that sees all of them.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include "base/dtype.h"
#include "chat/chat_template.h"
#include "model/qwen3.h"
#include "tokenizer/tokenizer.h"

namespace qg::guard {

// True for a GGUF file (by its magic), false for anything else (a folder).
bool is_gguf(const std::filesystem::path& model);

// Qwen3Model::load with QG_LOAD_MODE and --dtype (nullopt: the checkpoint's own types).
std::unique_ptr<model::Qwen3Model> load_model(const std::filesystem::path& model,
                                              std::optional<DType> dtype = std::nullopt);

// A folder: tokenizer.json (+ tokenizer_config.json). A GGUF file: tokenizer.ggml.* —
// model gpt2 with pre qwen2 only (other pre-tokenizers would tokenize differently); token
// types CONTROL (3) become special added tokens, USER_DEFINED (4) plain added tokens,
// UNUSED (5) padding rows that name no token, as in the tokenizer.json they came from.
// eos/pad from tokenizer.ggml.eos_token_id / padding_token_id.
std::unique_ptr<tok::Tokenizer> load_tokenizer(const std::filesystem::path& model);

// A folder: ChatTemplate::from_model_dir. A GGUF file: tokenizer.chat_template, with
// eos_token/pad_token/bos_token bound to the token texts of their ids. override_file wins.
std::unique_ptr<chat::ChatTemplate> load_chat_template(const std::filesystem::path& model,
                                                       const std::optional<std::filesystem::path>& override_file = {});

// "bf16" | "q8_0" | "f32" -> DType; throws naming --dtype otherwise.
DType parse_compute_dtype(const std::string& name);

}  // namespace qg::guard
