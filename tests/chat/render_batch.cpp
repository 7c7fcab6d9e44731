// Test driver for the differential tests: the C++ twin of tools/chat/render_oracle.py.
// Reads JSON-lines requests {"template": path, "messages": [...], "add_generation_prompt":
// bool, "kwargs": {...}, "special_tokens": {...}} on stdin and writes one line per request:
// {"text": "...", "content": [[begin, end], ...]} or {"error": "..."}. Byte offsets in
// "content" are the caller-content spans of the rendered text.
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "chat/chat_template.h"

int main() {
  using nlohmann::ordered_json;
  std::map<std::string, std::unique_ptr<qg::chat::ChatTemplate>> templates;
  std::map<std::string, std::string> load_errors;
  std::string line;
  std::ios::sync_with_stdio(false);
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    ordered_json out;
    try {
      const ordered_json req = ordered_json::parse(line);
      // "template": a file (cached), or "source": the template text itself.
      const bool inline_src = req.contains("source");
      const std::string path = inline_src ? "\x01" + req["source"].get<std::string>() : req.at("template").get<std::string>();
      if (inline_src && templates.size() > 64) templates.clear();  // fuzzed sources are used once
      if (inline_src && load_errors.size() > 64) load_errors.clear();
      if (!templates.count(path) && !load_errors.count(path)) {
        try {
          std::string src;
          if (inline_src) {
            src = req["source"].get<std::string>();
          } else {
            std::ifstream f(path, std::ios::binary);
            src.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
          }
          templates[path] = qg::chat::ChatTemplate::from_source(std::move(src), inline_src ? "inline" : path);
        } catch (const qg::Error& e) {
          load_errors[path] = e.what();
        }
      }
      if (load_errors.count(path)) throw qg::Error(load_errors[path]);
      qg::chat::RenderOptions opts;
      opts.add_generation_prompt = req.value("add_generation_prompt", false);
      std::map<std::string, qg::chat::Value> special;
      if (req.contains("special_tokens"))
        for (const auto& [k, v] : req["special_tokens"].items()) special[k] = qg::chat::Value::from_json(v, qg::Origin::kTemplate);
      templates[path]->set_special_tokens(std::move(special));
      if (req.contains("kwargs"))
        for (const auto& [k, v] : req["kwargs"].items()) opts.extra[k] = qg::chat::Value::from_json(v);
      const qg::Segments segs = templates[path]->render(qg::chat::Value::from_json(req.at("messages")), opts);
      std::string text;
      ordered_json spans = ordered_json::array();
      for (const auto& s : segs) {
        if (s.origin == qg::Origin::kContent) spans.push_back({text.size(), text.size() + s.text.size()});
        text += s.text;
      }
      out["text"] = text;
      out["content"] = spans;
    } catch (const std::exception& e) {
      out = ordered_json::object();
      out["error"] = e.what();
    }
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  return 0;
}
