// Stream labels, per-head verdicts and the debouncing rule (see stream_rule.h).
#include "guard/stream_rule.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"

namespace qg::guard {

const char* stream_risk_name(StreamRisk r) {
  switch (r) {
    case StreamRisk::kSafe: return "Safe";
    case StreamRisk::kUnsafe: return "Unsafe";
    case StreamRisk::kControversial: return "Controversial";
  }
  return "?";
}

namespace {

std::vector<StreamRisk> risk_labels(const std::vector<std::string>& names, const char* key) {
  std::vector<StreamRisk> out;
  for (const std::string& n : names) {
    if (n == "Safe") out.push_back(StreamRisk::kSafe);
    else if (n == "Unsafe") out.push_back(StreamRisk::kUnsafe);
    else if (n == "Controversial") out.push_back(StreamRisk::kControversial);
    else fail("config.json: /", key, ": unknown risk level \"", n, "\" (expected Safe, Unsafe, Controversial)");
  }
  for (StreamRisk r : {StreamRisk::kSafe, StreamRisk::kUnsafe, StreamRisk::kControversial}) {
    if (std::count(out.begin(), out.end(), r) != 1) {
      fail("config.json: /", key, " must name each of Safe, Unsafe and Controversial exactly once");
    }
  }
  return out;
}

// Index of the largest value (lowest index on ties) and its softmax probability.
std::pair<int32_t, float> argmax_softmax(std::span<const float> x) {
  QG_CHECK(!x.empty(), "empty head");
  size_t best = 0;
  for (size_t i = 1; i < x.size(); ++i) {
    if (x[i] > x[best]) best = i;
  }
  double sum = 0;
  for (float v : x) sum += std::exp(static_cast<double>(v) - x[best]);
  return {static_cast<int32_t>(best), static_cast<float>(1.0 / sum)};
}

}  // namespace

StreamLabels StreamLabels::from_config(const weights::StreamHeadsConfig& c) {
  StreamLabels l;
  l.response_risk = risk_labels(c.response_risk_levels, "response_risk_level_map");
  l.query_risk = risk_labels(c.query_risk_levels, "query_risk_level_map");
  l.response_categories = c.response_categories;
  l.query_categories = c.query_categories;
  return l;
}

HeadVerdict read_head(std::span<const float> risk_logits, std::span<const float> category_logits,
                      const std::vector<StreamRisk>& labels) {
  QG_CHECK(risk_logits.size() == labels.size(), "risk head has ", risk_logits.size(), " outputs, ",
           labels.size(), " labels");
  HeadVerdict v;
  const auto [r, rp] = argmax_softmax(risk_logits);
  v.risk = labels[static_cast<size_t>(r)];
  v.risk_prob = rp;
  const auto [c, cp] = argmax_softmax(category_logits);
  v.category = c;
  v.category_prob = cp;
  return v;
}

StreamRule::StreamRule(StreamRuleConfig cfg) : cfg_(cfg) {
  if (cfg_.run < 1) fail("stream rule: the run length must be at least 1, got ", cfg_.run);
}

void StreamRule::reset() { *this = StreamRule(cfg_); }

std::optional<Flag> StreamRule::push(const HeadVerdict& v) {
  const int64_t i = n_++;
  run_unsafe_ = v.risk == StreamRisk::kUnsafe ? run_unsafe_ + 1 : 0;
  run_controversial_ = v.risk == StreamRisk::kControversial ? run_controversial_ + 1 : 0;
  run_any_ = v.risk != StreamRisk::kSafe ? run_any_ + 1 : 0;
  const Flag here{i, v.risk, v.category};
  if (run_unsafe_ >= cfg_.run && !first_unsafe_) first_unsafe_ = here;
  if (run_controversial_ >= cfg_.run && !first_controversial_) first_controversial_ = here;
  if (run_any_ >= cfg_.run && !first_any_) first_any_ = here;
  bool fires = false;
  if (cfg_.mixed) fires = run_any_ >= cfg_.run;
  else fires = run_unsafe_ >= cfg_.run || (cfg_.controversial && run_controversial_ >= cfg_.run);
  if (fires && !first_) {
    first_ = here;
    return first_;
  }
  return std::nullopt;
}

std::optional<Flag> StreamRule::final_verdict() const {
  if (cfg_.mixed) return first_any_;
  if (first_unsafe_) return first_unsafe_;
  if (cfg_.controversial) return first_controversial_;
  return std::nullopt;
}

}  // namespace qg::guard
