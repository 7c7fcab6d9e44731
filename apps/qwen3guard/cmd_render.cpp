// `qwen3guard render`: renders a conversation with the checkpoint's own chat template,
// exactly as transformers' apply_chat_template(tokenize=False) does; optionally shows
// which bytes came from message content, or the token ids (needs the tokenizer).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/file.h"
#include "base/limits.h"
#include "chat/chat_template.h"
#include "guard/inputs.h"
#include "command.h"
#include "model_arg.h"
#include "guard/checkpoint.h"
#if QG_HAVE_TOKENIZER
#include "tokenizer/tokenizer.h"
#endif

namespace qg::app {
namespace {

using nlohmann::ordered_json;

ordered_json read_json(const std::string& path, const char* what) {
  std::string text;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    text = qg::read_file(path);
  }
  (void)what;
  limits::check_json_depth(text, path);
  try {
    return ordered_json::parse(text);
  } catch (const ordered_json::exception& e) {
    fail(path, ": invalid JSON: ", e.what());
  }
}

// A messages file is a list of messages, or an object {"messages": [...], <kwargs>...}
// whose other keys (tools, documents, enable_thinking, ...) become template variables.
void load_conversation(const ordered_json& j, const std::string& where, chat::Value& messages,
                       chat::RenderOptions& opts) {
  if (j.is_array()) {
    messages = chat::Value::from_json(j);
    return;
  }
  if (!j.is_object() || !j.contains("messages") || !j["messages"].is_array())
    fail(where, ": expected a list of messages or an object with a \"messages\" list");
  for (const auto& [k, v] : j.items()) {
    if (k == "messages") messages = chat::Value::from_json(v);
    else if (k == "add_generation_prompt") opts.add_generation_prompt = v.is_boolean() && v.get<bool>();
    else opts.extra[k] = chat::Value::from_json(v);
  }
}

std::string quoted(const std::string& s) { return ordered_json(s).dump(-1, ' ', false, ordered_json::error_handler_t::replace); }

int run_render(int argc, char** argv) {
  CLI::App app{
      "Render a conversation with the model's chat template, byte-identical to transformers'\n"
      "apply_chat_template(messages, tokenize=False). The template comes from the model's\n"
      "tokenizer_config.json (\"chat_template\", or its list form's \"default\"), else from\n"
      "chat_template.jinja beside it; --chat-template overrides both.\n\n"
      "Examples:\n"
      "  qwen3guard render --model Qwen3Guard-Gen-0.6B --messages conv.json\n"
      "  echo '[{\"role\":\"user\",\"content\":\"hi\"}]' | qwen3guard render --model M --messages -\n"
      "  qwen3guard render --model M --messages conv.json --add-generation-prompt \\\n"
      "      --kwargs '{\"enable_thinking\": false}' --show-provenance\n"
      "  qwen3guard render --chat-template tpl.jinja --jsonl requests.jsonl\n\n"
      "conv.json is a list of {\"role\", \"content\", ...} objects, or an object\n"
      "{\"messages\": [...], \"tools\": [...], ...} whose extra keys become template variables.",
      "qwen3guard render"};
  std::string model, messages_path, template_path, kwargs_text, jsonl_path;
  bool add_gen = false, show_ids = false, show_prov = false;
  app.add_option("--model", model, "checkpoint folder (tokenizer_config.json, chat_template.jinja) or GGUF file");
  app.add_option("--messages", messages_path, "conversation JSON file, '-' for stdin");
  app.add_option("--jsonl", jsonl_path,
                 "batch mode: one conversation object per line ('-' for stdin); prints one JSON line\n"
                 "{\"text\": ..., \"content\": [[begin, end], ...]} (or {\"error\": ...}) per input line");
  app.add_flag("--add-generation-prompt", add_gen, "append the assistant turn opener (add_generation_prompt=True)");
  app.add_option("--chat-template", template_path, "use this Jinja file instead of the model's template");
  app.add_option("--kwargs", kwargs_text, "JSON object of extra template variables, e.g. '{\"enable_thinking\":false}'");
  app.add_flag("--ids", show_ids,
               "print the token ids of the rendered prompt instead of the text (needs --model;\n"
               "special tokens are matched only in template text, never in message content)");
  app.add_flag("--show-provenance", show_prov,
               "print the rendering as segments, one per line: 'T \"...\"' for template text,\n"
               "'C \"...\"' for bytes from message content (never matched as special tokens)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  if (!model.empty()) model = resolve_model_arg(model, ModelParts::kTokenizerOnly);  // a hub id -> its cached snapshot
  if (model.empty() && template_path.empty()) {
    std::fprintf(stderr, "qwen3guard render: give --model DIR or --chat-template FILE (see --help)\n");
    return kExitUsage;
  }
  if (messages_path.empty() == jsonl_path.empty()) {
    std::fprintf(stderr, "qwen3guard render: give exactly one of --messages FILE or --jsonl FILE (see --help)\n");
    return kExitUsage;
  }
  std::optional<std::filesystem::path> override_file;
  if (!template_path.empty()) override_file = template_path;
  std::unique_ptr<chat::ChatTemplate> tpl;
  if (!model.empty()) {
    tpl = guard::load_chat_template(model, override_file);
  } else {
    tpl = chat::ChatTemplate::from_source(qg::read_file(template_path), template_path);
  }
  chat::RenderOptions base;
  base.add_generation_prompt = add_gen;
  if (!kwargs_text.empty()) {
    ordered_json kw;
    limits::check_json_depth(kwargs_text, "--kwargs");
    try {
      kw = ordered_json::parse(kwargs_text);
    } catch (const ordered_json::exception& e) {
      fail("--kwargs: invalid JSON: ", e.what());
    }
    if (!kw.is_object()) fail("--kwargs: expected a JSON object");
    for (const auto& [k, v] : kw.items()) base.extra[k] = chat::Value::from_json(v);
  }

  if (!jsonl_path.empty()) {
    std::ifstream file;
    std::istream* in = &std::cin;
    if (jsonl_path != "-") {
      qg::check_readable_file(jsonl_path);
      file.open(jsonl_path, std::ios::binary);
      if (!file) fail(jsonl_path, ": cannot open");
      in = &file;
    }
    std::string line;
    for (size_t n = 1;; ++n) {
      const guard::LineRead got = guard::read_line(*in, line, limits::kMaxLineBytes);
      if (got == guard::LineRead::kEnd) break;
      if (got == guard::LineRead::kTooLong) {
        std::cout << ordered_json({{"error", cat(jsonl_path, ":", n, ": line longer than ",
                                                 limits::kMaxLineBytes >> 20, " MiB")}}).dump() << "\n";
        continue;
      }
      if (line.empty()) continue;
      ordered_json out;
      try {
        chat::RenderOptions opts = base;
        chat::Value messages;
        const std::string where = cat(jsonl_path, ":", n);
        ordered_json j;
        limits::check_json_depth(line, where);
        try {
          j = ordered_json::parse(line);
        } catch (const ordered_json::exception& e) {
          fail(where, ": invalid JSON: ", e.what());
        }
        load_conversation(j, where, messages, opts);
        std::string text;
        ordered_json spans = ordered_json::array();
        for (const auto& s : tpl->render(messages, opts)) {
          if (s.origin == Origin::kContent) spans.push_back({text.size(), text.size() + s.text.size()});
          text += s.text;
        }
        out["text"] = text;
        out["content"] = spans;
      } catch (const std::exception& e) {  // any failure is this line's error record
        out = ordered_json::object();
        out["error"] = e.what();
      }
      std::cout << out.dump(-1, ' ', false, ordered_json::error_handler_t::replace) << "\n";
    }
    return kExitOk;
  }

  chat::RenderOptions opts = base;
  chat::Value messages;
  load_conversation(read_json(messages_path, "messages"), messages_path, messages, opts);
  const Segments segs = tpl->render(messages, opts);
  if (show_ids) {
#if QG_HAVE_TOKENIZER
    if (model.empty()) fail("--ids needs --model DIR (the tokenizer lives in the checkpoint folder)");
    const auto tok = guard::load_tokenizer(model);
    std::string sep;
    for (int32_t id : tok->encode(segs)) {
      std::cout << sep << id;
      sep = " ";
    }
    std::cout << "\n";
    return kExitOk;
#else
    fail("--ids needs the tokenizer, which this build does not include (qg_tokenizer missing)");
#endif
  }
  if (show_prov) {
    for (const auto& s : segs) std::cout << (s.origin == Origin::kContent ? "C " : "T ") << quoted(s.text) << "\n";
    return kExitOk;
  }
  std::cout << join_text(segs);
  std::cout.flush();
  return kExitOk;
}

const Registrar kRegister{{"render", "render a conversation with the model's chat template", run_render}};

}  // namespace
}  // namespace qg::app
