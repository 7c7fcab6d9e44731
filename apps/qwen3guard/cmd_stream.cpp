// `qwen3guard stream`: Qwen3Guard-Stream from the command line.
//   --ids ... [--all-positions] --json   the raw heads (parity checks against other ports)
//   --prompt "..." [--response-file F]   moderate a response as it streams in (stdin by
//                                        default, read as it arrives): one line per token
//                                        and a summary marking the first flagged position.
// Flags and terminal output only; the work is guard::StreamModerator on a runtime::Engine.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>

#include "base/error.h"
#include "chat/chat_template.h"
#include "command.h"
#include "guard/stream_json.h"
#include "guard/stream_session.h"
#include "id_list.h"
#include "model/qwen3.h"
#include "runtime/engine.h"
#include "tokenizer/tokenizer.h"

namespace qg::app {
namespace {

// A token's text for one terminal line: control characters made visible.
std::string visible(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20) out += "\\x" + std::string(1, "0123456789abcdef"[c >> 4]) + "0123456789abcdef"[c & 15];
    else out.push_back(static_cast<char>(c));
  }
  return out;
}

std::string category_of(const guard::HeadVerdict& h, const std::vector<std::string>& cats) {
  return h.risk == guard::StreamRisk::kSafe ? "-" : cats.at(static_cast<size_t>(h.category));
}

int run(int argc, char** argv) {
  CLI::App app{
      "Qwen3Guard-Stream: moderate a response token by token while it streams.\n\n"
      "Examples:\n"
      "  qwen3guard stream --model DIR --prompt \"How can I make a bomb?\" --response-file answer.txt\n"
      "  my_llm | qwen3guard stream --model DIR --prompt \"...\" --json      (stdin, read as it arrives)\n"
      "  qwen3guard stream --model DIR --ids 151644,872,198 --all-positions --json\n"
      "      raw head logits of every position (risk_level 3, category 8, query_risk_level 3,\n"
      "      query_category 9, in the checkpoint's head order)",
      "qwen3guard stream"};
  std::string model_dir, ids_text, prompt, response_file, rule = "strict";
  bool all = false, json = false, fail_on_flag = false;
  int threads = 0, run_len = 2;
  size_t chunk = 4096;
  app.add_option("--model", model_dir, "Qwen3Guard-Stream checkpoint folder (Qwen3ForGuardModel)")->required();
  auto* ids_opt = app.add_option("--ids", ids_text, "token ids: print the raw heads (no template, no tokenizer)");
  app.add_flag("--all-positions", all, "with --ids: every position, not only the last");
  auto* prompt_opt = app.add_option("--prompt", prompt, "the user message whose answer is moderated");
  app.add_option("--response-file", response_file, "the response text (default: stdin, read as it arrives)");
  app.add_option("--chunk", chunk, "bytes per read of the response (the session takes chunks of any size)")
      ->check(CLI::PositiveNumber);
  app.add_option("--rule", rule, "strict (Unsafe or Controversial runs flag), loose (Unsafe only), "
                                 "mixed (any non-Safe run)")
      ->check(CLI::IsMember({"strict", "loose", "mixed"}));
  app.add_option("--run", run_len, "consecutive tokens the rule needs (official: 2)")->check(CLI::PositiveNumber);
  app.add_flag("--json", json, "JSON: an array (--ids) or JSON Lines events (prompt, token, flagged, summary)");
  app.add_flag("--fail-on-flag", fail_on_flag, "exit status 3 when the response is flagged");
  app.add_option("--threads", threads, "kernel threads (default: QG_THREADS or all cores)");
  ids_opt->excludes(prompt_opt);
  try {
    app.parse(argc, argv);
    if (ids_text.empty() && !prompt_opt->count()) throw CLI::ValidationError("give --ids or --prompt");
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }

  auto model = model::Qwen3Model::load(model_dir);
  if (!model->config().is_stream()) {
    fail(model_dir, ": config.json: architectures is ", model->config().architecture,
         "; `stream` needs a Qwen3Guard-Stream checkpoint (Qwen3ForGuardModel)");
  }
  runtime::EngineConfig ecfg;
  ecfg.threads = threads;
  runtime::Engine engine(*model, ecfg);

  if (!ids_text.empty()) {
    const std::vector<int32_t> ids = parse_id_list(ids_text);
    model::StreamHeadLogits lg = guard::stream_head_logits(engine, ids);
    if (!all) {  // only the last position
      const int64_t w = lg.width();
      lg.all.erase(lg.all.begin(), lg.all.end() - w);
      lg.n = 1;
    }
    const std::span<const int32_t> shown = all ? std::span<const int32_t>(ids) : std::span(ids).last(1);
    if (json) {
      std::printf("%s\n", guard::head_logits_to_json(lg, shown).c_str());
    } else {
      for (int64_t i = 0; i < lg.n; ++i) {
        std::printf("position %lld (token %d):", static_cast<long long>(all ? i : int64_t(ids.size()) - 1), shown[i]);
        auto print = [](const char* name, std::span<const float> s) {
          std::printf(" %s [", name);
          for (size_t k = 0; k < s.size(); ++k) std::printf("%s%.6g", k ? ", " : "", s[k]);
          std::printf("]");
        };
        print("risk", lg.risk(i));
        print("category", lg.category(i));
        print("query_risk", lg.query_risk(i));
        print("query_category", lg.query_category(i));
        std::printf("\n");
      }
    }
    return kExitOk;
  }

  auto tok = tok::Tokenizer::from_model_dir(model_dir);
  auto tpl = chat::ChatTemplate::from_model_dir(model_dir);
  guard::StreamConfig scfg;
  scfg.max_sessions = 1;
  scfg.idle_ttl_s = 0;  // one interactive session: never evicted while stdin is slow
  scfg.rule.run = run_len;
  scfg.rule.controversial = rule != "loose";
  scfg.rule.mixed = rule == "mixed";
  guard::StreamModerator mod(engine, *tok, *tpl, scfg);
  const guard::StreamLabels& labels = mod.labels();

  const auto opened = mod.open({{"user", prompt}});
  const guard::PromptVerdict& p = opened.prompt;
  if (json) {
    std::printf("%s\n", guard::prompt_event_json(p, labels).c_str());
  } else {
    std::printf("prompt: %s (p=%.3f)  category: %s (p=%.3f)\n", guard::stream_risk_name(p.query.risk),
                p.query.risk_prob, category_of(p.query, labels.query_categories).c_str(), p.query.category_prob);
    std::printf("%6s  %-24s  %-13s  %-28s  %s\n", "index", "text", "risk", "category", "p");
  }
  std::fflush(stdout);

  std::optional<guard::Flag> flagged;
  std::string flagged_text;
  auto show = [&](const guard::AppendResult& r) {
    for (const guard::TokenVerdict& v : r.tokens) {
      const int32_t one[1] = {v.token};
      const std::string text = tok->decode(one);
      if (json) {
        std::printf("%s\n", guard::token_event_json(v, labels, text).c_str());
      } else {
        const bool here = r.flagged && v.index == r.flagged->index;
        std::printf("%6s  %-24s  %-13s  %-28s  %.3f%s\n",
                    v.index < 0 ? "-" : std::to_string(v.index).c_str(), ("\"" + visible(text) + "\"").c_str(),
                    guard::stream_risk_name(v.response.risk), category_of(v.response, labels.response_categories).c_str(),
                    v.response.risk_prob, here ? "   <- flagged" : "");
      }
      if (r.flagged && v.index == r.flagged->index) flagged_text = text;
    }
    if (r.flagged) {
      flagged = r.flagged;
      if (json) std::printf("%s\n", guard::flag_event_json(*r.flagged, labels).c_str());
    }
    std::fflush(stdout);
  };

  int fd = 0;
  if (!response_file.empty()) {
    fd = ::open(response_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(response_file, ": cannot open: ", std::strerror(errno));
  }
  std::string buf(chunk, '\0');
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(response_file.empty() ? "stdin" : response_file, ": read error: ", std::strerror(errno));
    if (n == 0) break;
    show(mod.append_text(opened.id, std::string_view(buf.data(), static_cast<size_t>(n))));
  }
  if (fd != 0) ::close(fd);
  const guard::FinishResult fin = mod.finish(opened.id);
  show(fin.last);
  if (json) {
    std::printf("%s\n", guard::summary_json(fin, labels).c_str());
  } else if (fin.first_flag) {
    const auto& f = *fin.first_flag;
    std::printf("response: flagged at token %lld (\"%s\"): %s, %s", static_cast<long long>(f.index),
                visible(flagged_text).c_str(), guard::stream_risk_name(f.risk),
                labels.response_categories.at(static_cast<size_t>(f.category)).c_str());
    if (fin.final_verdict && fin.final_verdict->index != f.index) {
      std::printf("  (whole-response verdict: %s at token %lld)", guard::stream_risk_name(fin.final_verdict->risk),
                  static_cast<long long>(fin.final_verdict->index));
    }
    std::printf("; %lld response tokens\n", static_cast<long long>(fin.response_tokens));
  } else {
    std::printf("response: not flagged; %lld response tokens\n", static_cast<long long>(fin.response_tokens));
  }
  return fail_on_flag && fin.first_flag ? kExitFlagged : kExitOk;
}

const Registrar kReg{{"stream", "Qwen3Guard-Stream: moderate a response token by token as it streams", run}};

}  // namespace
}  // namespace qg::app
