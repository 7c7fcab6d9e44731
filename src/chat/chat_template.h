// CONTRACT HEADER (written first so guard/ can code against it; the chat-template
// work fills in the implementation and may add to it, but must keep these signatures).
//
// chat/: renders a checkpoint's own Jinja chat template exactly as transformers'
// apply_chat_template does, returning segments that mark which bytes came from
// message content (see base/segment.h).
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/segment.h"
#include "chat/render_limits.h"
#include "chat/value.h"  // qg::chat::Value: the Jinja value type (none/bool/int/float/string/list/map)

namespace qg::chat {

struct Message {
  std::string role;
  std::string content;
};

struct RenderOptions {
  bool add_generation_prompt = false;
  // enable_thinking, tools, ... (template kwargs). Values keep their own provenance:
  // Value::from_json marks strings as content (caller data, the default), while
  // Value::string(s) is template text unless given Origin::kContent.
  std::map<std::string, Value> extra;
  // The evaluation budget (steps, output and value sizes, call depth); see render_limits.h.
  RenderLimits limits;
};

class ChatTemplate {
 public:
  // From a checkpoint folder: tokenizer_config.json "chat_template" (string or list of
  // {name, template}; "default" is used), else chat_template.jinja. `override_file`
  // (--chat-template) wins when given. Throws qg::Error if none is found.
  static std::unique_ptr<ChatTemplate> from_model_dir(const std::filesystem::path& dir,
                                                      const std::optional<std::filesystem::path>& override_file = {});
  static std::unique_ptr<ChatTemplate> from_source(std::string source, std::string origin_name);
  ~ChatTemplate();

  // messages: a list of maps (role, content, and anything else the template reads).
  // Thread-safe: concurrent render() calls share only the immutable parsed template.
  // Throws qg::Error "<template>:<line>:<col>: ..." (raise_exception, undefined misuse...).
  Segments render(const Value& messages, const RenderOptions& opts) const;
  Segments render(const std::vector<Message>& messages, const RenderOptions& opts) const;

  // Special-token variables the template sees (bos_token, eos_token, ...), as
  // transformers passes tokenizer.special_tokens_map. from_model_dir reads them from
  // tokenizer_config.json. Their bytes are template text (kTemplate), so the tokenizer
  // does match them as special tokens; caller data never is.
  void set_special_tokens(std::map<std::string, Value> tokens);  // not concurrently with render()
  const std::string& source() const;       // the template text (before normalisation)
  const std::string& origin_name() const;  // name used in error messages

 private:
  ChatTemplate();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace qg::chat
