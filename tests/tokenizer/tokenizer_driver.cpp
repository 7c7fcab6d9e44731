// tokenizer_driver: a line-oriented front end to qg::tok for the node-based tests (the
// randomised differential test against the live oracle, tests/tokenizer/fuzz.js).
//   tokenizer_driver TOKENIZER_JSON < requests.jsonl > replies.jsonl
// Each request line is one JSON object:
//   {"segments": [["text", "t"|"c"], ...]}  -> {"ids": [...]}   (t: template, c: content)
//   {"decode": [ids...], "skip": bool}      -> {"text": "..."}
//   {"stream": [ids...]}                    -> {"text": "..."}  (IncrementalDecoder, joined)
//   {"nfc": "text"}                         -> {"text": "..."}
// An error becomes {"error": "..."} and the driver goes on.
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: tokenizer_driver TOKENIZER_JSON < requests.jsonl\n";
    return 2;
  }
  std::unique_ptr<qg::tok::Tokenizer> tok;
  try {
    tok = qg::tok::Tokenizer::load(argv[1]);
  } catch (const qg::Error& e) {
    std::cerr << "tokenizer_driver: " << e.what() << "\n";
    return 1;
  }
  std::ios::sync_with_stdio(false);
  std::string line;
  while (std::getline(std::cin, line)) {
    nlohmann::json reply;
    try {
      const auto req = nlohmann::json::parse(line);
      if (req.contains("segments")) {
        qg::Segments segs;
        for (const auto& s : req["segments"]) {
          segs.push_back({s[0].get<std::string>(), s[1] == "c" ? qg::Origin::kContent : qg::Origin::kTemplate});
        }
        reply["ids"] = tok->encode(segs);
      } else if (req.contains("decode")) {
        const auto ids = req["decode"].get<std::vector<int32_t>>();
        reply["text"] = tok->decode(ids, req.value("skip", false));
      } else if (req.contains("stream")) {
        qg::tok::IncrementalDecoder dec(*tok, req.value("skip", false));
        std::string text;
        for (int32_t id : req["stream"].get<std::vector<int32_t>>()) text += dec.push(id);
        text += dec.finish();
        reply["text"] = text;
      } else if (req.contains("nfc")) {
        std::string out;
        qg::tok::nfc_append(out, req["nfc"].get<std::string>());
        reply["text"] = out;
      } else {
        reply["error"] = "unknown request";
      }
    } catch (const std::exception& e) {
      reply["error"] = e.what();
    }
    std::cout << reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  return 0;
}
