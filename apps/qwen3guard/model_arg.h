// --model for every subcommand: a checkpoint folder, a .gguf file, or a hub id
// (owner/name[@revision][:file.gguf]) fetched into the Hugging Face cache. The hub/
// layer does the resolving; this file says which files this engine needs (the
// Selector) and draws the download progress on stderr.
#pragma once

#include <string>
#include <vector>

#include "hub/resolve.h"

namespace qg::app {

// Which files of a repo revision a Qwen3Guard checkpoint needs: config.json,
// tokenizer.json, tokenizer_config.json, generation_config.json and chat_template.jinja
// when present, and the weights: model.safetensors.index.json (+ the shards it names),
// else model.safetensors, else the one .gguf file (or the `:file` the user named).
hub::FileSelection select_checkpoint(const std::vector<std::string>& names, const hub::ModelSpec& spec);
// Only what tokenizing and rendering read: config.json, tokenizer.json,
// tokenizer_config.json, chat_template.jinja (no weights: `tokenize` must not fetch 16 GB).
hub::FileSelection select_tokenizer(const std::vector<std::string>& names, const hub::ModelSpec& spec);

enum class ModelParts { kAll, kTokenizerOnly };

// Options from the environment (HF_HUB_CACHE, HF_TOKEN, ...), select_checkpoint, and a
// progress bar on a terminal (plain log lines otherwise) on stderr.
hub::ResolveOptions model_resolve_options(bool verbose);

// The local path to load for a --model argument: itself when it exists, else the
// cached or downloaded snapshot (or .gguf file). Throws qg::Error saying what to do.
std::string resolve_model_arg(const std::string& text, ModelParts parts = ModelParts::kAll);

}  // namespace qg::app
