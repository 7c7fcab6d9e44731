// Fuzz target: the render context. The input is a messages JSON document (a list of
// messages, or an object whose "messages" list and other keys become template variables,
// as `qwen3guard render --messages` reads it), rendered through the real Qwen3Guard and
// Qwen3 templates.
#include <nlohmann/json.hpp>

#include <string>

#include "base/error.h"
#include "base/file.h"
#include "base/limits.h"
#include "chat/chat_template.h"
#include "fuzz_util.h"

namespace {

std::unique_ptr<qg::chat::ChatTemplate> load(const char* name) {
  return qg::chat::ChatTemplate::from_source(qg::read_file(std::string(QG_FUZZ_DIR "/corpus/jinja_template/") + name),
                                             name);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using qg::chat::Value;
  static const auto guard = load("qwen3guard-gen.jinja");
  static const auto qwen3 = load("qwen3.jinja");
  try {
    const std::string_view text = qg::fuzz::as_text(data, size);
    qg::limits::check_json_depth(text, "messages");
    nlohmann::ordered_json j;
    try {
      j = nlohmann::ordered_json::parse(text);
    } catch (const nlohmann::ordered_json::exception& e) {
      qg::fail("messages: ", e.what());
    }
    qg::chat::RenderOptions opt;
    opt.limits.max_steps = 1'000'000;
    opt.limits.max_output_bytes = 4 << 20;
    Value messages;
    if (j.is_object() && j.contains("messages")) {
      for (const auto& [k, v] : j.items()) {
        if (k == "messages") messages = Value::from_json(v);
        else opt.extra[k] = Value::from_json(v);
      }
    } else {
      messages = Value::from_json(j);
    }
    for (const auto* t : {guard.get(), qwen3.get()}) {
      try {
        (void)t->render(messages, opt);
      } catch (const qg::Error&) {
      }
    }
  } catch (const qg::Error&) {
  }
  return 0;
}
