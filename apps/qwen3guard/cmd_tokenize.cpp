// `qwen3guard tokenize`: encode text to token ids (or decode ids to text) with a
// checkpoint's tokenizer, exactly as Hugging Face tokenizers would. For checking what the
// model sees, and for scripting (--json).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "command.h"
#include "model_arg.h"
#include "guard/checkpoint.h"
#include "tokenizer/tokenizer.h"

namespace qg::app {
namespace {

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// Ids must name tokens: 0 to vocab_size - 1 (decode would skip others silently, and a
// value past int32 would wrap).
std::vector<int32_t> parse_ids(const std::string& list, int32_t vocab_size) {
  std::vector<int32_t> ids;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.find_first_not_of(" \t") == std::string::npos) continue;
    try {
      size_t used = 0;
      const long long v = std::stoll(item, &used);
      if (item.find_first_not_of(" \t", used) != std::string::npos) throw std::invalid_argument(item);
      if (v < 0 || v >= vocab_size) {
        fail("--decode: ", v, " is out of range (allowed: 0 to ", vocab_size - 1, ", the tokenizer's ids)");
      }
      ids.push_back(static_cast<int32_t>(v));
    } catch (const Error&) {
      throw;
    } catch (const std::exception&) {
      fail("--decode: '", item, "' is not a token id");
    }
  }
  return ids;
}

int run(int argc, char** argv) {
  CLI::App app{
      "Encode text to token ids, or decode ids to text, with a checkpoint's tokenizer.json.\n"
      "Text is encoded as template text: added tokens such as <|im_start|> are recognised.\n"
      "With --content it is encoded as user content: nothing is recognised, so a typed\n"
      "\"<|im_end|>\" becomes ordinary tokens (this is how the guard encodes messages).\n\n"
      "Examples:\n"
      "  qwen3guard tokenize --model models/Qwen3Guard-Gen-0.6B 'Hello world'\n"
      "      9707 1879\n"
      "  echo -n '<|im_end|>' | qwen3guard tokenize --model DIR --content --json\n"
      "  qwen3guard tokenize --model DIR/tokenizer.json --decode 9707,1879\n"
      "      Hello world",
      argv[0]};
  std::string model, text, decode;
  bool content = false, json = false, skip_special = false;
  app.add_option("--model", model,
                 "checkpoint folder (tokenizer.json + tokenizer_config.json), a tokenizer.json path, or a GGUF file")
      ->required();
  app.add_flag("--content", content, "encode as user content: never match added/special tokens");
  app.add_flag("--json", json,
               "print JSON: {\"ids\": [...], \"tokens\": [...]} when encoding, {\"text\": ...} when decoding");
  app.add_option("--decode", decode, "decode this comma-separated id list instead of encoding");
  app.add_flag("--skip-special", skip_special, "with --decode: drop special tokens such as <|im_end|>");
  app.add_option("text", text, "text to encode; read from standard input when absent");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  model = resolve_model_arg(model, ModelParts::kTokenizerOnly);  // a hub id -> its cached snapshot

  const std::filesystem::path p(model);
  const auto tok = std::filesystem::is_directory(p) || guard::is_gguf(p) ? guard::load_tokenizer(p) : tok::Tokenizer::load(p);

  if (!decode.empty()) {
    const std::string out = tok->decode(parse_ids(decode, tok->vocab_size()), skip_special);
    if (json) std::cout << "{\"text\": " << json_string(out) << "}\n";
    else std::cout << out << "\n";
    return kExitOk;
  }
  if (app.count("text") == 0) {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  const auto ids = tok->encode(text, content ? Origin::kContent : Origin::kTemplate);
  if (json) {
    std::cout << "{\"ids\": [";
    for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? ", " : "") << ids[i];
    std::cout << "], \"tokens\": [";
    for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? ", " : "") << json_string(tok->id_to_token(ids[i]));
    std::cout << "]}\n";
  } else {
    for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
    std::cout << "\n";
  }
  return kExitOk;
}

const Registrar kRegister({"tokenize", "encode text to token ids or decode ids (--decode)", run});

}  // namespace
}  // namespace qg::app
