// --long-input window: a conversation too long for the context is moderated as
// overlapping windows of its last message (the one under moderation), each
// re-rendered through the chat template so the instructions and the output format
// stay intact. The reported result is the worst window's (Unsafe > Controversial >
// Safe; an unparsable answer counts as worst, a guard fails closed), marked
// windowed. The model was not trained on truncated text: this is a fallback, which
// is why it is opt-in. Windows overlap by a quarter so that no sentence is seen only
// cut in two.
#include <algorithm>

#include "base/error.h"
#include "guard/classifier.h"
#include "tokenizer/tokenizer.h"

namespace qg::guard {
namespace {

// Moves `pos` back to the start of a UTF-8 character (never splits a code point).
size_t utf8_floor(std::string_view s, size_t pos) {
  pos = std::min(pos, s.size());
  while (pos > 0 && pos < s.size() && (static_cast<unsigned char>(s[pos]) & 0xC0) == 0x80) --pos;
  return pos;
}

// Prefers to cut after whitespace within the last eighth of [begin, end).
size_t soft_cut(std::string_view s, size_t begin, size_t end) {
  if (end >= s.size()) return s.size();
  for (size_t i = end; i > begin + (end - begin) * 7 / 8; --i) {
    if (s[i - 1] == ' ' || s[i - 1] == '\n') return i;
  }
  return end;
}

int rank(const Result& r) { return r.verdict.safety ? severity(*r.verdict.safety) : 3; }

}  // namespace

Result Classifier::run_windowed(const Conversation& conv, const ClassifyOptions& opt) {
  const std::string& content = conv.back().content;
  Conversation shell = conv;
  shell.back().content.clear();
  const int64_t overhead = static_cast<int64_t>(prepare(shell).ids.size());
  const int64_t budget = output_budget(opt.decode, opt.max_new_tokens);
  // Room for the window's own tokens; a few spare for merges at the window edges.
  const int64_t room = ctx_ - overhead - budget - 8;
  if (room < 64)
    fail("--long-input window: the conversation without its last message already takes ", overhead,
         " tokens; with ", budget, " output tokens only ", std::max<int64_t>(room, 0),
         " of the context of ", ctx_, " would remain for a window (raise --ctx)");

  const int64_t total = static_cast<int64_t>(tok_->encode(content, Origin::kContent).size());
  const double bytes_per_token = static_cast<double>(content.size()) / std::max<int64_t>(total, 1);
  Result worst;
  int n = 0;
  double render_ms = 0, prefill_ms = 0, decode_ms = 0;
  int64_t prompt_tokens = 0, generated = 0;
  for (size_t begin = 0; begin < content.size();) {
    size_t len = static_cast<size_t>(room * bytes_per_token * 0.9) + 1;
    Prepared p;
    size_t end;
    for (;;) {  // shrink until the rendered window fits
      end = soft_cut(content, begin, utf8_floor(content, begin + len));
      if (end <= begin) end = std::min(content.size(), begin + 1);
      Conversation w = conv;
      w.back().content = content.substr(begin, end - begin);
      p = prepare(w);
      if (static_cast<int64_t>(p.ids.size()) + budget <= ctx_) break;
      QG_CHECK(len > 1, "a window of one byte does not fit");
      len = len * 3 / 4;
    }
    Result r = run(p, opt);
    render_ms += r.timings.render_tokenize_ms;
    prefill_ms += r.timings.prefill_ms;
    decode_ms += r.timings.decode_ms;
    prompt_tokens += r.prompt_tokens;
    generated += r.generated_tokens;
    if (n == 0 || rank(r) > rank(worst)) {
      worst = std::move(r);
      worst.worst_window = n;
    }
    ++n;
    if (end >= content.size()) break;
    // Next window starts a quarter of this one before its end.
    const size_t next = utf8_floor(content, end - (end - begin) / 4);
    begin = std::max(next, begin + 1);
  }
  worst.windowed = true;
  worst.windows = n;
  worst.timings = {render_ms, prefill_ms, decode_ms};
  worst.prompt_tokens = prompt_tokens;
  worst.generated_tokens = generated;
  return worst;
}

}  // namespace qg::guard
