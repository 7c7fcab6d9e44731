// JSON of the stream subcommand (see stream_json.h).
#include "guard/stream_json.h"

#include <nlohmann/json.hpp>

namespace qg::guard {

namespace {

using nlohmann::json;

std::vector<float> slice(std::span<const float> s) { return {s.begin(), s.end()}; }

json verdict(const HeadVerdict& h, const std::vector<std::string>& cats) {
  json j;
  j["risk_level"] = stream_risk_name(h.risk);
  j["risk_prob"] = h.risk_prob;
  j["category"] = h.risk == StreamRisk::kSafe ? json(nullptr) : json(cats.at(static_cast<size_t>(h.category)));
  j["category_prob"] = h.category_prob;
  return j;
}

json flag(const std::optional<Flag>& f, const StreamLabels& l) {
  if (!f) return nullptr;
  return {{"index", f->index}, {"risk_level", stream_risk_name(f->risk)},
          {"category", l.response_categories.at(static_cast<size_t>(f->category))}};
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

std::string head_logits_to_json(const model::StreamHeadLogits& lg, std::span<const int32_t> ids) {
  json a = json::array();
  for (int64_t i = 0; i < lg.n; ++i) {
    a.push_back({{"position", i},
                 {"token", ids[static_cast<size_t>(i)]},
                 {"risk_level_logits", slice(lg.risk(i))},
                 {"category_logits", slice(lg.category(i))},
                 {"query_risk_level_logits", slice(lg.query_risk(i))},
                 {"query_category_logits", slice(lg.query_category(i))}});
  }
  return dump(a);
}

std::string prompt_event_json(const PromptVerdict& p, const StreamLabels& l) {
  json j = verdict(p.query, l.query_categories);
  j["event"] = "prompt";
  j["position"] = p.position;
  j["prompt_tokens"] = p.n_tokens;
  return dump(j);
}

std::string token_event_json(const TokenVerdict& v, const StreamLabels& l, const std::string& text) {
  json j = verdict(v.response, l.response_categories);
  j["event"] = "token";
  j["index"] = v.index < 0 ? json(nullptr) : json(v.index);
  j["template"] = v.index < 0;
  j["position"] = v.position;
  j["token"] = v.token;
  j["text"] = text;
  return dump(j);
}

std::string flag_event_json(const Flag& f, const StreamLabels& l) {
  json j = flag(f, l);
  j["event"] = "flagged";
  return dump(j);
}

std::string summary_json(const FinishResult& f, const StreamLabels& l) {
  json j;
  j["event"] = "summary";
  j["response_tokens"] = f.response_tokens;
  j["flagged"] = f.first_flag.has_value();
  j["first_flag"] = flag(f.first_flag, l);
  j["final"] = flag(f.final_verdict, l);
  return dump(j);
}

}  // namespace qg::guard
