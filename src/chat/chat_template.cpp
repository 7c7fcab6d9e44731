// ChatTemplate: finds a checkpoint's template, parses it once, and renders it with the
// variables transformers' apply_chat_template passes (messages, tools=None,
// documents=None, add_generation_prompt, the special-token map, then the caller's
// keyword arguments, which win).
#include "chat/chat_template.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/file.h"
#include "base/limits.h"
#include "chat/jinja/interpreter.h"
#include "chat/jinja/lexer.h"
#include "chat/jinja/ops.h"
#include "chat/jinja/parser.h"

namespace qg::chat {

struct ChatTemplate::Impl {
  std::string raw;
  jinja::Source src;
  jinja::Body body;
  std::map<std::string, Value> special_tokens;
};

namespace {

// jinja2 rejects unknown filters and tests when it compiles the template, before any
// rendering; check the whole tree the same way.
void check_names(const jinja::Source& src, const jinja::Expr* e) {
  if (!e) return;
  if (e->kind == jinja::ExprKind::kFilter && !jinja::has_filter(e->name))
    throw jinja::TemplateError(src.where(e->pos) + ": No filter named '" + e->name + "'.");
  if (e->kind == jinja::ExprKind::kTest && !jinja::has_test(e->name))
    throw jinja::TemplateError(src.where(e->pos) + ": No test named '" + e->name + "'.");
  for (const jinja::ExprPtr* p : {&e->a, &e->b, &e->c, &e->d, &e->star_args, &e->star_kwargs}) check_names(src, p->get());
  for (const auto& x : e->items) check_names(src, x.get());
  for (const auto& [k, x] : e->kwargs) check_names(src, x.get());
}

void check_names(const jinja::Source& src, const jinja::Body& body) {
  for (const auto& s : body) {
    check_names(src, s->expr.get());
    check_names(src, s->cond.get());
    for (const auto& [k, x] : s->params) check_names(src, x.get());
    check_names(src, s->body);
    check_names(src, s->else_body);
  }
}

// tokenizer_config.json spells a special token as a string or as an AddedToken object.
std::optional<std::string> token_text(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string()) return j["content"].get<std::string>();
  return std::nullopt;
}

}  // namespace

ChatTemplate::ChatTemplate() : impl_(std::make_unique<Impl>()) {}
ChatTemplate::~ChatTemplate() = default;

std::unique_ptr<ChatTemplate> ChatTemplate::from_source(std::string source, std::string origin_name) {
  std::unique_ptr<ChatTemplate> t(new ChatTemplate());
  t->impl_->raw = source;
  t->impl_->src = jinja::make_source(std::move(source), std::move(origin_name));
  const auto tokens = jinja::tokenize(t->impl_->src);
  t->impl_->body = jinja::parse(t->impl_->src, tokens);
  check_names(t->impl_->src, t->impl_->body);
  return t;
}

std::unique_ptr<ChatTemplate> ChatTemplate::from_model_dir(const std::filesystem::path& dir,
                                                           const std::optional<std::filesystem::path>& override_file) {
  const auto cfg_path = dir / "tokenizer_config.json";
  nlohmann::json cfg;
  if (std::filesystem::exists(cfg_path)) {
    const std::string text = read_file(cfg_path);
    limits::check_json_depth(text, cfg_path.string());
    try {
      cfg = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      fail(cfg_path.string(), ": invalid JSON: ", e.what());
    }
  }
  std::unique_ptr<ChatTemplate> t;
  if (override_file) {
    t = from_source(read_file(*override_file), override_file->string());
  } else if (cfg.is_object() && cfg.contains("chat_template") && !cfg["chat_template"].is_null()) {
    const auto& ct = cfg["chat_template"];
    if (ct.is_string()) {
      t = from_source(ct.get<std::string>(), cfg_path.string() + ": /chat_template");
    } else if (ct.is_array()) {
      // The named-template form: [{"name": "default", "template": "..."}, {"name": "tool_use", ...}].
      for (size_t i = 0; i < ct.size(); ++i) {
        const auto& e = ct[i];
        if (!e.is_object() || !e.contains("name") || !e.contains("template") || !e["template"].is_string())
          fail(cfg_path.string(), ": /chat_template/", i, ": expected {\"name\", \"template\"}");
        if (e["name"] == "default")
          t = from_source(e["template"].get<std::string>(), cat(cfg_path.string(), ": /chat_template/", i, "/template"));
      }
      if (!t) fail(cfg_path.string(), ": /chat_template: no template named \"default\"");
    } else {
      fail(cfg_path.string(), ": /chat_template: expected a string or a list of {name, template}");
    }
  } else if (std::filesystem::exists(dir / "chat_template.jinja")) {
    t = from_source(read_file(dir / "chat_template.jinja"), (dir / "chat_template.jinja").string());
  } else {
    fail(dir.string(), ": no chat template (neither tokenizer_config.json /chat_template nor chat_template.jinja)");
  }
  std::map<std::string, Value> special;
  if (cfg.is_object()) {
    for (const char* k : {"bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"}) {
      if (!cfg.contains(k)) continue;
      if (auto s = token_text(cfg[k])) special[k] = Value::string(*s, Origin::kTemplate);
    }
    if (cfg.contains("additional_special_tokens") && cfg["additional_special_tokens"].is_array()) {
      List l;
      for (const auto& e : cfg["additional_special_tokens"])
        if (auto s = token_text(e)) l.push_back(Value::string(*s, Origin::kTemplate));
      special["additional_special_tokens"] = Value::list(std::move(l));
    }
  }
  t->set_special_tokens(std::move(special));
  return t;
}

void ChatTemplate::set_special_tokens(std::map<std::string, Value> tokens) { impl_->special_tokens = std::move(tokens); }
const std::string& ChatTemplate::source() const { return impl_->raw; }
const std::string& ChatTemplate::origin_name() const { return impl_->src.name; }

Segments ChatTemplate::render(const Value& messages, const RenderOptions& opts) const {
  jinja::Interp::Frame globals;
  globals.reserve(8 + impl_->special_tokens.size() + opts.extra.size());
  auto put = [&](const std::string& k, Value v) {
    for (auto& [name, old] : globals)
      if (name == k) {
        old = std::move(v);
        return;
      }
    globals.emplace_back(k, std::move(v));
  };
  put("messages", messages);
  put("tools", Value::none());
  put("documents", Value::none());
  put("add_generation_prompt", Value::boolean(opts.add_generation_prompt));
  for (const auto& [k, v] : impl_->special_tokens) put(k, v);
  for (const auto& [k, v] : opts.extra) put(k, v);
  jinja::Interp interp(impl_->src, std::move(globals), opts.limits);
  return interp.render(impl_->body).to_segments();
}

Segments ChatTemplate::render(const std::vector<Message>& messages, const RenderOptions& opts) const {
  List l;
  l.reserve(messages.size());
  for (const Message& m : messages) {
    Map entry;
    entry.entries.emplace_back(Value::string("role"), Value::string(m.role, Origin::kContent));
    entry.entries.emplace_back(Value::string("content"), Value::string(m.content, Origin::kContent));
    l.push_back(Value::map(std::move(entry)));
  }
  return render(Value::list(std::move(l)), opts);
}

}  // namespace qg::chat
