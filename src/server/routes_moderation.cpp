// POST /v1/moderations: OpenAI's moderation schema (../shared/spec/PEERS.md §3) from
// the fast verdict path (guard::DecodeMode::kFast with probabilities), one result per
// input, each with a "qwen3guard" object carrying the native verdict.
//
// Category mapping (docs/server.md "Category mapping"; lossy by nature):
//   Violent                        -> violence
//   Non-violent Illegal Acts       -> illicit
//   Sexual Content or Sexual Acts  -> sexual
//   Suicide & Self-Harm            -> self-harm
//   Unethical Acts                 -> harassment, hate
//   PII, Politically Sensitive Topics, Copyright Violation, Jailbreak -> no OpenAI key
//     (only in qwen3guard.categories)
//   harassment/threatening, hate/threatening, illicit/violent, self-harm/intent,
//   self-harm/instructions, sexual/minors, violence/graphic -> always false, score 0
//     (Qwen3Guard does not make these distinctions)
// categories[key] is true when the result is flagged by the policy and the verdict
// names a category mapped to key. category_scores[key] is the model's probability that
// the first listed category is one mapped to key (renormalised over the categories
// offered, at the "Categories: " decision, docs/guard.md). flagged is the policy's
// decision (strict: Unsafe or Controversial; loose: Unsafe; plus thresholds), so it
// can be true with every OpenAI category false when only unmapped categories apply.
#include <array>
#include <chrono>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "guard/jsonl.h"
#include "guard/labels.h"
#include "server/context.h"
#include "server/moderate.h"
#include "server/stream_backend.h"

namespace qg::server {
namespace {

using nlohmann::ordered_json;
using guard::Category;

constexpr std::array<const char*, 13> kOpenAiKeys = {
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent", "self-harm",
    "self-harm/intent", "self-harm/instructions", "sexual", "sexual/minors", "violence", "violence/graphic"};

// The Qwen3Guard categories mapped onto one OpenAI key (empty: none).
std::vector<Category> mapped(std::string_view key) {
  if (key == "violence") return {Category::kViolent};
  if (key == "illicit") return {Category::kNonViolentIllegalActs};
  if (key == "sexual") return {Category::kSexualContent};
  if (key == "self-harm") return {Category::kSuicideSelfHarm};
  if (key == "harassment" || key == "hate") return {Category::kUnethicalActs};
  return {};
}

ordered_json result_json(const guard::Result& r, guard::Strictness policy) {
  ordered_json cats = ordered_json::object(), scores = ordered_json::object(), types = ordered_json::object();
  for (const char* key : kOpenAiKeys) {
    bool hit = false;
    double score = 0;
    for (Category c : mapped(key)) {
      hit = hit || std::find(r.verdict.categories.begin(), r.verdict.categories.end(), c) != r.verdict.categories.end();
      if (r.probs.category_valid) score += r.probs.category_renorm[static_cast<int>(c)];
    }
    cats[key] = r.flagged && hit;
    scores[key] = std::min(1.0, score);
    types[key] = ordered_json::array({"text"});
  }
  // The native verdict, its probabilities in classify --json's layout.
  const ordered_json native = ordered_json::parse(guard::result_to_json(r, {}));
  ordered_json q;
  q["mode"] = native["mode"];
  q["safety"] = native["safety"];
  q["categories"] = native["categories"];
  q["refusal"] = r.mode == guard::Mode::kResponse ? native["refusal"] : ordered_json(nullptr);
  q["policy"] = policy == guard::Strictness::kStrict ? "strict" : "loose";
  q["flag_reasons"] = native["flag_reasons"];
  q["probabilities"] = native["probabilities"];
  // No token counts or timings here: they depend on what ran before (prefix reuse),
  // and a result must be a function of its input alone.
  return ordered_json{{"flagged", r.flagged},
                      {"categories", cats},
                      {"category_scores", scores},
                      {"category_applied_input_types", types},
                      {"qwen3guard", q}};
}

// ---- The same route on a Qwen3Guard-Stream checkpoint: the verdict at the end of
// the input. A prompt (the conversation ends with a user turn): the query heads at
// the <|im_end|> closing it. A response (it ends with an assistant turn): the
// response is appended to a session on the rest and finished; the verdict is the
// evaluation code's decision rule over the whole response (StreamRule::final_verdict).
// strict flags Unsafe and Controversial, loose only Unsafe. category_scores carry the
// category head's probability at the deciding position for its argmax category.

std::vector<std::string> openai_keys_of(std::string_view native) {
  if (native == "Violent") return {"violence"};
  if (native == "Non-violent Illegal Acts") return {"illicit"};
  if (native == "Sexual Content or Sexual Acts") return {"sexual"};
  if (native == "Suicide & Self-Harm") return {"self-harm"};
  if (native == "Unethical Acts") return {"harassment", "hate"};
  return {};
}

ordered_json stream_result(StreamBackend& sb, const guard::Conversation& conv, guard::Strictness policy) {
  auto& mod = sb.moderator();
  const guard::StreamLabels& l = sb.labels();
  const bool response = conv.back().role == "assistant";
  std::vector<chat::Message> head;
  for (size_t i = 0; i + (response ? 1 : 0) < conv.size(); ++i) head.push_back({conv[i].role, conv[i].content});
  if (head.empty() || head.back().role != "user")
    fail("input: a Stream model judges a conversation ending with a user turn (prompt) or with a user then an assistant "
         "turn (response)");
  const auto opened = mod.open(head);
  guard::StreamRisk risk = opened.prompt.query.risk;
  std::string category = risk == guard::StreamRisk::kSafe
                             ? std::string()
                             : l.query_categories.at(static_cast<size_t>(opened.prompt.query.category));
  double risk_prob = opened.prompt.query.risk_prob, category_prob = opened.prompt.query.category_prob;
  ordered_json flagged_at = nullptr;
  int64_t response_tokens = 0;
  if (response) {
    try {
      mod.append_text(opened.id, conv.back().content);
      const guard::FinishResult fin = mod.finish(opened.id);
      mod.close(opened.id);
      response_tokens = fin.response_tokens;
      risk = guard::StreamRisk::kSafe, category.clear(), risk_prob = 0, category_prob = 0;
      if (fin.final_verdict) {
        risk = fin.final_verdict->risk;
        category = l.response_categories.at(static_cast<size_t>(fin.final_verdict->category));
        flagged_at = fin.final_verdict->index;
      }
    } catch (...) {
      try { mod.close(opened.id); } catch (const guard::SessionGone&) {}
      throw;
    }
  } else {
    mod.close(opened.id);
  }
  const bool flagged = risk == guard::StreamRisk::kUnsafe ||
                       (risk == guard::StreamRisk::kControversial && policy == guard::Strictness::kStrict);
  ordered_json cats = ordered_json::object(), scores = ordered_json::object(), types = ordered_json::object();
  const auto keys = openai_keys_of(category);
  for (const char* key : kOpenAiKeys) {
    const bool hit = std::find(keys.begin(), keys.end(), key) != keys.end();
    cats[key] = flagged && hit;
    scores[key] = hit && !response ? category_prob : hit ? 1.0 : 0.0;
    types[key] = ordered_json::array({"text"});
  }
  ordered_json q{{"mode", response ? "response" : "prompt"},
                 {"risk_level", guard::stream_risk_name(risk)},
                 {"category", category.empty() ? ordered_json(nullptr) : ordered_json(category)},
                 {"policy", policy == guard::Strictness::kStrict ? "strict" : "loose"}};
  if (!response) q["risk_prob"] = risk_prob, q["category_prob"] = category_prob;
  else q["flagged_at"] = flagged_at, q["response_tokens"] = response_tokens;
  return ordered_json{{"flagged", flagged}, {"categories", cats}, {"category_scores", scores},
                      {"category_applied_input_types", types}, {"qwen3guard", q}};
}

HttpResponse handle_stream_moderation(ServerContext& ctx, const ModerationRequest& req, guard::Strictness policy) {
  ordered_json list = ordered_json::array();
  for (size_t i = 0; i < req.inputs.size(); ++i) {
    try {
      list.push_back(stream_result(*ctx.stream, req.inputs[i], policy));
    } catch (const guard::SessionLimit& e) {
      return error_response(ApiError{429, e.what(), "rate_limit_error", {}, std::string("too_many_sessions")});
    } catch (const Error& e) {
      return error_response(bad_request(e.what(), req.inputs.size() > 1 ? cat("input[", i, "]") : "input"));
    }
  }
  ordered_json body{{"id", random_id("modr-")}, {"model", ctx.model_name}, {"results", list}};
  return json_response(200, body.dump(-1, ' ', false, ordered_json::error_handler_t::replace));
}

HttpResponse handle_moderation(ServerContext& ctx, const HttpRequest& http) {
  if (auto e = ctx.check_ready()) return error_response(*e);
  auto parsed = parse_moderation_request(http.header("Content-Type"), http.body, ctx.cfg.limits);
  if (auto* e = std::get_if<ApiError>(&parsed)) return error_response(*e);
  ModerationRequest& req = std::get<ModerationRequest>(parsed);
  if (auto e = ctx.check_model(req.model)) return error_response(*e);
  if (ctx.stream) return handle_stream_moderation(ctx, req, req.policy.value_or(ctx.cfg.policy));
  guard::Policy policy;
  policy.strictness = req.policy.value_or(ctx.cfg.policy);
  policy.thresholds = req.thresholds.empty() ? ctx.cfg.thresholds : req.thresholds;

  auto out = moderate_all(ctx, http, req.inputs, policy, "input");
  if (auto* e = std::get_if<ApiError>(&out)) return error_response(*e);
  const auto& results = std::get<std::vector<guard::Result>>(out);
  ordered_json list = ordered_json::array();
  int64_t tokens = 0;
  for (const auto& r : results) {
    list.push_back(result_json(r, policy.strictness));
    tokens += r.prompt_tokens + r.generated_tokens;
  }
  ordered_json body{{"id", random_id("modr-")}, {"model", ctx.model_name}, {"results", list}};
  HttpResponse res = json_response(200, body.dump(-1, ' ', false, ordered_json::error_handler_t::replace));
  res.log_tokens = tokens;
  return res;
}

}  // namespace

void add_moderation_routes(Router& r, ServerContext& ctx) {
  r.add("POST", "/v1/moderations", "moderations", true, [&ctx](const HttpRequest& q) { return handle_moderation(ctx, q); });
}

}  // namespace qg::server
