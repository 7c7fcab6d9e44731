// POST /beta/litellm_basic_guardrail_api: LiteLLM's Generic Guardrail API, so a LiteLLM
// gateway can use this server with configuration only (guardrail:
// generic_guardrail_api, api_base pointing here). Each text (or the structured
// conversation) is moderated on the fast path; the answer is {"action": "BLOCKED",
// "blocked_reason": ...} when any is flagged by the policy, else {"action": "NONE"}.
// This server never rewrites text, so it never answers GUARDRAIL_INTERVENED.
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "guard/labels.h"
#include "server/context.h"
#include "server/moderate.h"

namespace qg::server {
namespace {

using nlohmann::ordered_json;

std::string reason(const guard::Result& r) {
  std::string s = "Qwen3Guard: ";
  s += r.verdict.safety ? std::string(guard::safety_name(*r.verdict.safety)) : "unparsable verdict";
  if (!r.verdict.categories.empty()) {
    s += " (";
    for (size_t i = 0; i < r.verdict.categories.size(); ++i) {
      if (i) s += ", ";
      s += guard::category_name(r.verdict.categories[i]);
    }
    s += ")";
  }
  return s;
}

HttpResponse handle_guardrail(ServerContext& ctx, const HttpRequest& http) {
  if (auto e = ctx.check_gen()) return error_response(*e);
  auto parsed = parse_guardrail_request(http.header("Content-Type"), http.body, ctx.cfg.limits);
  if (auto* e = std::get_if<ApiError>(&parsed)) return error_response(*e);
  const GuardrailRequest& req = std::get<GuardrailRequest>(parsed);
  guard::Policy policy;
  policy.strictness = ctx.cfg.policy;
  policy.thresholds = ctx.cfg.thresholds;
  auto out = moderate_all(ctx, http, req.inputs, policy, "texts");
  if (auto* e = std::get_if<ApiError>(&out)) return error_response(*e);
  ordered_json body{{"action", "NONE"}};
  int64_t tokens = 0;
  for (const auto& r : std::get<std::vector<guard::Result>>(out)) {
    tokens += r.prompt_tokens + r.generated_tokens;
    if (r.flagged && body["action"] == "NONE") body = {{"action", "BLOCKED"}, {"blocked_reason", reason(r)}};
  }
  HttpResponse res = json_response(200, body.dump());
  res.log_tokens = tokens;
  return res;
}

}  // namespace

void add_guardrail_routes(Router& r, ServerContext& ctx) {
  r.add("POST", "/beta/litellm_basic_guardrail_api", "guardrail", true, [&ctx](const HttpRequest& q) { return handle_guardrail(ctx, q); });
}

}  // namespace qg::server
