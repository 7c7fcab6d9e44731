// The one limits policy (docs/STYLE.md, "Limits"): every bound that protects the process
// from a hostile file, template, request or flag is a named constant here, so the numbers
// are in one place, documented once, and the same in every parser. Each limit is far above
// what any real input needs (the margin is stated beside it) and is checked *before* the
// work it bounds (before recursing, before allocating), with an Error that names the
// limit. This header knows no file format: JSON appears only as bytes to count brackets in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace qg::limits {

// JSON nesting (arrays + objects). Real files: tokenizer.json 5, config.json 3, a
// messages file with tool calls 6. nlohmann's DOM, dump() and our JSON -> Value
// conversion recurse, so this also bounds the C++ stack they use.
inline constexpr int kMaxJsonDepth = 128;

// A whole text file read into memory (config.json, tokenizer_config.json, messages,
// templates, CSV). The largest real one, tokenizer.json, is 11 MB.
inline constexpr size_t kMaxTextFileBytes = size_t{256} << 20;

// One line of a JSONL or text batch input. A line is one conversation; a 128k-token
// context is under 1 MB of text.
inline constexpr size_t kMaxLineBytes = size_t{64} << 20;

// Token ids read from tokenizer.json / tokenizer_config.json / --decode. The largest
// vocabularies in use are ~260k; the id table is allocated up to the highest id.
inline constexpr int64_t kMaxTokenId = (int64_t{1} << 24) - 1;  // 16,777,215

// Model dimensions in config.json, checked before anything is allocated from them.
// Qwen3-235B: 94 layers, hidden 4096, heads 64; vocab 151,936; context 131,072.
inline constexpr int64_t kMaxLayers = 1024;
inline constexpr int64_t kMaxHiddenSize = int64_t{1} << 16;
inline constexpr int64_t kMaxIntermediateSize = int64_t{1} << 20;
inline constexpr int64_t kMaxHeads = 1024;
inline constexpr int64_t kMaxHeadDim = 4096;
inline constexpr int64_t kMaxVocabSize = kMaxTokenId + 1;
inline constexpr int64_t kMaxPositions = int64_t{1} << 24;  // 16M positions

// Thread counts accepted from flags and the environment.
inline constexpr int kMaxThreads = 1024;

// Throws qg::Error "<where>: JSON nested deeper than <max> levels (byte <offset>)" when
// `text` opens more than `max_depth` arrays/objects at once. Strings (with escapes) are
// skipped, so brackets inside them do not count. Linear, no recursion, no allocation:
// call it before handing untrusted text to a recursive parser.
void check_json_depth(std::string_view text, const std::string& where, int max_depth = kMaxJsonDepth);

}  // namespace qg::limits
