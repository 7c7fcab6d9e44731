// tokenizer/json_scan: the fast path for reading tokenizer.json. nlohmann's parser reads
// ~100 MB/s, which alone would exceed the 150 ms load budget on the 11 MB Qwen file, and
// nearly all of that file is /model/vocab and /model/merges. This scanner finds those two
// values with a strict structural skip, reads them with a specialised strict reader, and
// leaves everything else (a few kB, with those two values replaced by {} and []) to
// nlohmann. It reports no errors: on anything unexpected it returns false and the caller
// re-reads the file with the SAX reader, whose messages name the JSON path.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/string_id_map.h"

namespace qg::tok {

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
