// Text with provenance: the seam between chat/ (which renders a prompt) and
// tokenizer/ (which encodes it). Bytes from message content are kContent and are
// never matched against special/added tokens; bytes the template wrote are
// kTemplate. This is the guard's injection defence (docs/ARCHITECTURE.md).
#pragma once

#include <string>
#include <vector>

namespace qg {

enum class Origin : uint8_t { kTemplate, kContent };

struct Segment {
  std::string text;
  Origin origin = Origin::kTemplate;
};

using Segments = std::vector<Segment>;

// The whole rendered string (what transformers' apply_chat_template returns).
inline std::string join_text(const Segments& segs) {
  std::string out;
  for (const auto& s : segs) out += s.text;
  return out;
}

}  // namespace qg
