// `qwen3guard classify`: moderate one prompt, a prompt and a response, a messages
// file, or a JSONL file of them, with a Qwen3Guard-Gen checkpoint. Thin: flags ->
// qg::guard calls -> output. Exit statuses: 0 ok, 1 error (or a bad --input line),
// 2 usage, 3 --fail-on matched.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "base/error.h"
#include "base/file.h"
#include "command.h"
#include "model_arg.h"
#include "guard/checkpoint.h"
#include "flags.h"
#include "guard/jsonl.h"
#include "guard/classifier.h"
#include "guard/policy.h"

namespace qg::app {
namespace {

constexpr const char* kExamples = R"(
Examples:
  qwen3guard classify --model Qwen3Guard-Gen-0.6B "How can I make a bomb?"
      Safety: Unsafe (p=...)  Categories: Violent (p=...)  flagged
  qwen3guard classify --model DIR --prompt "How can I make a bomb?" \
      --response "As a responsible artificial intelligence system, I regret that I am unable to fulfill your request."
      Safety: Safe (p=...)  Categories: None (p=...)  Refusal: Yes (p=...)  not flagged
  qwen3guard classify --model DIR --messages conv.json --json
  qwen3guard classify --model DIR --input in.jsonl --output out.jsonl --fail-on unsafe
      in.jsonl lines: {"prompt": "..."} | {"prompt": "...", "response": "..."} |
                      {"messages": [{"role": "user", "content": "..."}, ...]}  (+ optional "id")

Modes: fast (default) lets the model choose only the decision tokens of the fixed
output format and forces the rest; text is plain greedy decoding as transformers'
generate(do_sample=False) and parses the text. Both give the same answer on a
well-behaved checkpoint; probabilities are the softmax at the decision tokens
(docs/guard.md). Exit status: 0 ok, 1 error, 2 usage, 3 an input matched --fail-on.
)";


int64_t count_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  int64_t n = 0;
  std::string line;
  while (std::getline(in, line)) n += line.find_first_not_of(" \t\r") != std::string::npos;
  return n;
}

// "[=======>      ] 120/450  26.7%  8.3/s  ETA 0:39" on one terminal line.
class ProgressBar {
 public:
  explicit ProgressBar(int64_t total) : total_(total), start_(std::chrono::steady_clock::now()) {}
  void update(int64_t done) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double rate = s > 0 ? done / s : 0;
    const double frac = total_ > 0 ? std::min(1.0, static_cast<double>(done) / total_) : 0;
    const int width = 30, fill = static_cast<int>(frac * width);
    const int64_t eta = rate > 0 ? static_cast<int64_t>(std::lround((total_ - done) / rate)) : 0;
    std::fprintf(stderr, "\r[%s%s] %lld/%lld %5.1f%%  %.1f/s  ETA %lld:%02lld ", std::string(fill, '=').c_str(),
                 std::string(width - fill, ' ').c_str(), static_cast<long long>(done),
                 static_cast<long long>(total_), frac * 100, rate, static_cast<long long>(eta / 60),
                 static_cast<long long>(eta % 60));
    std::fflush(stderr);
  }
  void finish() { std::fprintf(stderr, "\n"); }

 private:
  int64_t total_;
  std::chrono::steady_clock::time_point start_;
};

int run_classify(int argc, char** argv) {
  CLI::App app{"Moderate a prompt, a response or a conversation with a Qwen3Guard-Gen checkpoint.",
               "qwen3guard classify"};
  app.footer(kExamples);
  std::string model_dir, text, prompt, response, messages_file, input, output, chat_template;
  std::string mode = "fast", policy_name = "strict", fail_on, long_input = "error", thresholds;
  int threads = 0, parallel = 1;
  int64_t ctx = 0, kv_cache_mb = 0;
  std::string kv_dtype = "f32";
  bool json = false, verbose = false, strict_input = false, no_probs = false, no_prefix_reuse = false,
       ids = false;
  app.add_option("--model", model_dir, "checkpoint folder (config.json, *.safetensors, tokenizer.json, "
                                       "tokenizer_config.json with the Gen chat template), or a GGUF file")->required();
  std::string dtype;
  app.add_option("--dtype", dtype, "compute precision of the weights: bf16, q8_0 or f32 (default: as stored)")
      ->check(CLI::IsMember({"bf16", "q8_0", "f32"}));
  app.add_option("text", text, "a prompt to moderate (prompt moderation)");
  app.add_option("--prompt", prompt, "the user prompt (with --response: response moderation)");
  app.add_option("--response", response, "the assistant response to moderate (adds the Refusal verdict)");
  app.add_option("--messages", messages_file, "a JSON file: a list of {role, content} messages; the role of "
                                              "the last message picks prompt or response moderation");
  app.add_option("--input", input, "a JSONL file, one conversation per line (see examples); results are "
                                   "written as JSONL in input order");
  app.add_option("--output", output, "where --input results go (default: stdout); flushed line by line");
  app.add_flag("--json", json, "print the result as one JSON object (schema: docs/guard.md)");
  app.add_option("--mode", mode, "fast (default): decision tokens only; text: full greedy generation, "
                                 "then parse; masked-text: greedy under the grammar (a check of fast)")
      ->check(CLI::IsMember({"fast", "text", "masked-text"}));
  app.add_option("--policy", policy_name, "strict (default): Controversial is flagged; loose: it is not")
      ->check(CLI::IsMember({"strict", "loose"}));
  app.add_option("--fail-on", fail_on, "exit with status 3 if any input is: flagged (by --policy and "
                                       "--thresholds), unsafe, or controversial (Unsafe or Controversial)")
      ->check(CLI::IsMember({"flagged", "unsafe", "controversial"}));
  app.add_option("--thresholds", thresholds, "also flag when score(category) >= t, e.g. Violent=0.3,PII=0.5 "
                                             "(score: the category's highest renormalised probability at any list position, docs/guard.md; always applied, fails closed)");
  int max_new_tokens = 128;
  app.add_option("--max-new-tokens", max_new_tokens, "text modes: most tokens generated (default 128, as the "
                                                     "official examples)")->check(CLI::Range(1, 1 << 20));
  app.add_option("--threads", threads, "compute threads (default: QG_THREADS or all cores)")->check(threads_range());
  app.add_option("--parallel", parallel, "--input: moderations in flight at once (default 1); results are still "
                                         "written in input order")
      ->check(CLI::Range(1, 1024));
  app.add_option("--kv-dtype", kv_dtype, "KV cache element type: f32 (default, exact) or f16 (half the memory)")
      ->check(CLI::IsMember({"f32", "f16"}));
  app.add_option("--kv-cache-mb", kv_cache_mb, "bound the KV cache memory (MiB); a moderation that can never fit "
                                               "fails with an error naming both numbers")
      ->check(count_range(0, int64_t{1} << 24));
  app.add_option("--ctx", ctx, "context size in tokens (default: the model's max_position_embeddings)")
      ->check(ctx_range());
  app.add_option("--long-input", long_input, "error (default): refuse conversations longer than --ctx; "
                                             "window: moderate overlapping windows, report the worst")
      ->check(CLI::IsMember({"error", "window"}));
  app.add_option("--chat-template", chat_template, "a Jinja file to use instead of the checkpoint's template");
  app.add_flag("--strict-input", strict_input, "stop at the first bad --input line instead of skipping it");
  app.add_flag("--no-probs", no_probs, "skip probabilities (fast mode then computes only the allowed logits)");
  app.add_flag("--no-prefix-reuse", no_prefix_reuse, "recompute the whole prompt for every moderation");
  app.add_flag("--ids", ids, "JSON output: add prompt_ids and output_ids (the exact tokens the model saw/wrote)");
  app.add_flag("-v,--verbose", verbose, "also print the model's raw text, token counts and timings");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  model_dir = resolve_model_arg(model_dir);  // a hub id -> its cached snapshot

  const int sources = !text.empty() + !prompt.empty() + !messages_file.empty() + !input.empty();
  if (sources != 1) {
    std::fprintf(stderr, "qwen3guard classify: give exactly one of TEXT, --prompt, --messages, --input\n");
    return kExitUsage;
  }
  if (!response.empty() && prompt.empty()) {
    std::fprintf(stderr, "qwen3guard classify: --response needs --prompt\n");
    return kExitUsage;
  }
  if (!output.empty() && input.empty()) {
    std::fprintf(stderr, "qwen3guard classify: --output goes with --input\n");
    return kExitUsage;
  }

  if (!ctx_fits_model("qwen3guard classify", ctx, model_dir)) return kExitUsage;

  guard::ClassifierConfig cfg;
  cfg.model_dir = model_dir;
  if (!chat_template.empty()) cfg.chat_template = chat_template;
  cfg.threads = threads;
  cfg.ctx = ctx;
  cfg.reuse_prefix = !no_prefix_reuse;
  cfg.kv_dtype = guard::kv_dtype_from_name(kv_dtype);
  cfg.kv_cache_mb = kv_cache_mb;
  cfg.parallel = parallel;
  if (!dtype.empty()) cfg.dtype = guard::parse_compute_dtype(dtype);
  guard::ClassifyOptions copt;
  copt.decode = mode == "fast" ? guard::DecodeMode::kFast
                               : mode == "text" ? guard::DecodeMode::kText : guard::DecodeMode::kMaskedText;
  copt.probabilities = !no_probs;
  copt.max_new_tokens = max_new_tokens;
  copt.long_input = guard::long_input_from_name(long_input);
  copt.keep_ids = ids;
  guard::Policy policy;
  policy.strictness = guard::strictness_from_name(policy_name);
  policy.thresholds = guard::parse_thresholds(thresholds);
  const guard::FailOn rule = fail_on.empty() ? guard::FailOn::kNever : guard::fail_on_from_name(fail_on);

  // Inputs are checked before the model is loaded: a directory or a device is an error,
  // not an empty input.
  if (!input.empty()) qg::check_readable_file(input);
  if (!messages_file.empty()) qg::check_readable_file(messages_file);
  if (!chat_template.empty()) qg::check_readable_file(chat_template);

  auto clf = guard::Classifier::load(cfg);

  if (!input.empty()) {
    std::ifstream in(input);
    if (!in) fail(input, ": cannot open");
    std::ofstream out_file;
    if (!output.empty()) {
      out_file.open(output, std::ios::binary | std::ios::trunc);
      if (!out_file) fail(output, ": cannot write");
    }
    std::ostream& out = output.empty() ? std::cout : out_file;
    guard::BatchOptions bopt;
    bopt.classify = copt;
    bopt.policy = policy;
    bopt.fail_on = rule;
    bopt.strict_input = strict_input;
    bopt.source_name = input;
    bopt.include_ids = ids;
    bopt.parallel = parallel;
    const bool tty = isatty(STDERR_FILENO);
    ProgressBar bar(tty ? count_lines(input) : 0);
    const auto st = guard::run_batch(
        *clf, in, out, bopt,
        [&](const std::string& m) {
          if (tty) std::fprintf(stderr, "\r\033[K");
          std::fprintf(stderr, "qwen3guard classify: skipped %s\n", m.c_str());
        },
        [&](int64_t done) {
          if (tty) bar.update(done);
        });
    if (tty) bar.finish();
    std::fprintf(stderr, "qwen3guard classify: %lld moderated, %lld flagged, %lld bad lines\n",
                 static_cast<long long>(st.ok), static_cast<long long>(st.flagged),
                 static_cast<long long>(st.bad));
    if (st.failing > 0) return kExitFlagged;
    return st.bad > 0 ? kExitError : kExitOk;
  }

  guard::Conversation conv;
  if (!text.empty()) {
    conv = guard::prompt_conversation(text);
  } else if (!prompt.empty()) {
    conv = response.empty() ? guard::prompt_conversation(prompt) : guard::response_conversation(prompt, response);
  } else {
    conv = guard::parse_messages_file(qg::read_file(messages_file), messages_file);
  }
  guard::Result r = clf->classify(conv, copt);
  guard::apply_policy(policy, r);
  if (json) {
    guard::JsonOptions jo;
    jo.include_ids = ids;
    std::printf("%s\n", guard::result_to_json(r, jo).c_str());
  } else {
    std::printf("%s\n", guard::result_to_human(r).c_str());
    if (verbose) {
      std::printf("raw: %s\n", r.raw_text.c_str());
      std::printf("tokens: prompt %lld (reused %lld), generated %lld; ms: render+tokenize %.1f, prefill %.1f, "
                  "decode %.1f\n",
                  static_cast<long long>(r.prompt_tokens), static_cast<long long>(r.reused_prefix_tokens),
                  static_cast<long long>(r.generated_tokens), r.timings.render_tokenize_ms, r.timings.prefill_ms,
                  r.timings.decode_ms);
      for (const auto& why : r.flag_reasons) std::printf("flagged because: %s\n", why.c_str());
    }
  }
  return guard::fails(rule, r) ? kExitFlagged : kExitOk;
}

const Registrar kRegistrar({"classify", "moderate prompts/responses with a Qwen3Guard-Gen model", run_classify});

}  // namespace
}  // namespace qg::app
