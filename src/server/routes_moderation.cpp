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

HttpResponse handle_moderation(ServerContext& ctx, const HttpRequest& http) {
  if (auto e = ctx.check_ready()) return error_response(*e);
  auto parsed = parse_moderation_request(http.header("Content-Type"), http.body, ctx.cfg.limits);
  if (auto* e = std::get_if<ApiError>(&parsed)) return error_response(*e);
  ModerationRequest& req = std::get<ModerationRequest>(parsed);
  if (auto e = ctx.check_model(req.model)) return error_response(*e);
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
