// tokenizer/tokenizer_json: reads a Hugging Face tokenizer.json (and tokenizer_config.json)
// into a TokenizerSpec, refusing anything this implementation does not reproduce exactly.
// Every error names the file and the JSON pointer of the problem, e.g.
//   tokenizer.json: /model/merges/12: expected "a b" or ["a", "b"]
// Knows the file format only; building the tokenizer from the spec is tokenizer.cpp's job.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/string_id_map.h"

namespace qg::tok {

struct TokenizerSpec {
  StringIdMap vocab;                                        // byte-level token -> id
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
  HugeVector<MergeIds> merge_ids;  // or, from the fast reader, already resolved
  BpeConfig bpe;
  bool nfc = false;                // normalizer NFC (else none)
  std::vector<AddedToken> added;   // in file order
  std::optional<std::string> eos_token, pad_token;  // from tokenizer_config.json
};

// label names the file in error messages ("tokenizer.json"). allow_fast = false forces
// the SAX reader (tests compare the two readers).
TokenizerSpec parse_tokenizer_json(std::string_view json, const std::string& label, bool allow_fast = true);

// Applies tokenizer_config.json: eos_token, pad_token, and added_tokens_decoder (tokens
// missing from tokenizer.json are added; a conflicting entry is an error).
void apply_tokenizer_config(std::string_view json, const std::string& label, TokenizerSpec& spec);

// JSON pointer escaping of one reference token (~ -> ~0, / -> ~1).
std::string json_pointer_escape(std::string_view key);

// ---- Fast path (json_scan.cpp) -------------------------------------------------------
// nlohmann's parser reads ~100 MB/s, which alone would exceed the 150 ms load budget on
// the 11 MB Qwen file, and nearly all of that file is /model/vocab and /model/merges.
// scan_tokenizer_json finds those two values with a strict structural skip, reads them with
// a specialised strict reader, and leaves everything else (a few kB, with those two values
// replaced by {} and []) to nlohmann. It reports no errors: on anything unexpected it
// returns false and parse_tokenizer_json re-reads the file with the SAX reader, whose
// messages name the JSON path.
struct FastTokenizerJson {
  std::string rest;  // the document with /model/vocab -> {} and /model/merges -> []
  bool has_vocab = false, has_merges = false;
  StringIdMap vocab;
  // Merges: resolved to ids when the vocabulary came first (as tokenizers writes it),
  // else kept as strings.
  HugeVector<MergeIds> merge_ids;
  std::vector<std::pair<std::string, std::string>> merges;
};

// True if text was read completely; false means "use the precise reader instead".
bool scan_tokenizer_json(std::string_view text, FastTokenizerJson& out);

}  // namespace qg::tok
