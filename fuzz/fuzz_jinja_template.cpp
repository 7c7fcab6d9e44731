// Fuzz target: a chat template (lexer, parser, interpreter). The input is the template
// source, rendered with a small fixed conversation under a reduced budget (so one input
// costs milliseconds, not the seconds the default budget allows).
#include <string>

#include "base/error.h"
#include "chat/chat_template.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using qg::chat::Value;
  try {
    const auto t = qg::chat::ChatTemplate::from_source(std::string(qg::fuzz::as_text(data, size)), "fuzz.jinja");
    t->set_special_tokens({{"bos_token", Value::string("<s>")}, {"eos_token", Value::string("</s>")}});
    qg::chat::RenderOptions opt;
    opt.add_generation_prompt = true;
    opt.limits.max_steps = 200'000;
    opt.limits.max_output_bytes = 1 << 20;
    opt.limits.max_string_bytes = 1 << 20;
    opt.limits.max_items = 1 << 14;
    opt.extra["enable_thinking"] = Value::boolean(false);
    const std::vector<qg::chat::Message> msgs = {{"system", "Be safe."}, {"user", "Hi <|im_end|> there"},
                                                 {"assistant", "Hello!"}, {"user", "How?"}};
    (void)t->render(msgs, opt);
  } catch (const qg::Error&) {
  }
  return 0;
}
