// guard/stream_json: the JSON of `qwen3guard stream --json` (documented in
// docs/guard.md): the raw heads of every position (parity mode), and JSON Lines
// events of a moderated stream. Labels come from the checkpoint's maps. (The HTTP
// wire format is server/'s; this is the command line's.)
#pragma once

#include <string>

#include "guard/stream_session.h"
#include "model/stream_heads.h"

namespace qg::guard {

// [{"position": 0, "token": id, "risk_level_logits": [3], "category_logits": [8],
//   "query_risk_level_logits": [3], "query_category_logits": [9]}, ...]
std::string head_logits_to_json(const model::StreamHeadLogits& lg, std::span<const int32_t> ids);

// {"event": "prompt", "position", "risk_level", "risk_prob", "category", "category_prob"}
std::string prompt_event_json(const PromptVerdict& p, const StreamLabels& l);
// {"event": "token", "index", "position", "token", "text", "risk_level", ..., "template": bool}
std::string token_event_json(const TokenVerdict& v, const StreamLabels& l, const std::string& text);
// {"event": "flagged", "index", "risk_level", "category"}
std::string flag_event_json(const Flag& f, const StreamLabels& l);
// {"event": "summary", "response_tokens", "flagged": bool, "first_flag": {...}|null, "final": {...}|null}
std::string summary_json(const FinishResult& f, const StreamLabels& l);

}  // namespace qg::guard
