// RenderLimits: the evaluation budget of one chat-template render (docs/STYLE.md,
// "Limits"). A chat template comes with a downloaded model folder, so it is untrusted
// code: without a budget `{% for i in range(10**5) %}{% for j in range(10**5) %}` runs for
// hours and `'a' * 10**10` asks for 10 GB. Each limit is checked before or as the work
// happens and ends the render with a qg::Error naming the limit and the template position.
//
// The defaults are far above what real templates need: rendering a 1,000-message
// conversation with tools through the Qwen3 template takes ~10^5 steps and a few MB.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qg::chat {

struct RenderLimits {
  // Evaluation steps: one per statement, expression node and loop iteration, plus one per
  // 64 bytes / per item of every string, list or dict an operator, filter or call builds
  // (so work that builds large values pays for its size).
  int64_t max_steps = 50'000'000;
  // Bytes of rendered output (also any {% set %} block or macro body).
  size_t max_output_bytes = size_t{64} << 20;
  // Bytes of one string value.
  size_t max_string_bytes = size_t{64} << 20;
  // Items of one list, or entries of one dict.
  size_t max_items = size_t{1} << 20;
  // Nested macro calls (jinja2 has Python's recursion limit of ~1000 frames).
  int max_call_depth = 200;
};

}  // namespace qg::chat
