// Prometheus text rendering (metrics.h).
#include "server/metrics.h"

#include <cstdio>
#include <sstream>

#include "guard/labels.h"

namespace qg::server {

Metrics::Metrics()
    : bounds_{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120} {}

void Metrics::Histogram::add(double v) {
  size_t i = 0;
  while (i < bounds.size() && v > bounds[i]) ++i;
  ++counts[i];
  sum += v;
  ++n;
}

void Metrics::request(const std::string& route, int status, double seconds) {
  std::lock_guard<std::mutex> l(mu_);
  ++requests_[{route, status}];
  auto [it, fresh] = latency_.try_emplace(route);
  if (fresh) it->second = Histogram{bounds_, std::vector<uint64_t>(bounds_.size() + 1), 0, 0};
  it->second.add(seconds);
}

void Metrics::stage(const std::string& stage, double seconds) {
  std::lock_guard<std::mutex> l(mu_);
  auto [it, fresh] = stages_.try_emplace(stage);
  if (fresh) it->second = Histogram{bounds_, std::vector<uint64_t>(bounds_.size() + 1), 0, 0};
  it->second.add(seconds);
}

void Metrics::result(const guard::Result& r, bool moderation) {
  std::lock_guard<std::mutex> l(mu_);
  prompt_ += static_cast<uint64_t>(r.prompt_tokens);
  prefilled_ += static_cast<uint64_t>(r.prompt_tokens - r.reused_prefix_tokens);
  prefix_hit_ += static_cast<uint64_t>(r.reused_prefix_tokens);
  decoded_ += static_cast<uint64_t>(r.generated_tokens);
  if (!moderation) return;
  ++verdicts_[r.verdict.safety ? std::string(guard::safety_name(*r.verdict.safety)) : "unparsable"];
  for (guard::Category c : r.verdict.categories) ++categories_[std::string(guard::category_name(c))];
}

namespace {

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '\\' || c == '"') o += '\\';
    if (c == '\n') { o += "\\n"; continue; }
    o += c;
  }
  return o;
}

std::string num(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}

std::string bound(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}

}  // namespace

std::string Metrics::render(const BackendStats* backend, bool ready) const {
  std::lock_guard<std::mutex> l(mu_);
  std::ostringstream o;
  auto head = [&](const char* name, const char* type, const char* help) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  };
  auto hist = [&](const char* name, const char* label, const std::map<std::string, Histogram>& m) {
    for (const auto& [key, h] : m) {
      uint64_t cum = 0;
      for (size_t i = 0; i <= h.bounds.size(); ++i) {
        cum += h.counts[i];
        o << name << "_bucket{" << label << "=\"" << esc(key) << "\",le=\""
          << (i < h.bounds.size() ? bound(h.bounds[i]) : "+Inf") << "\"} " << cum << '\n';
      }
      o << name << "_sum{" << label << "=\"" << esc(key) << "\"} " << num(h.sum) << '\n';
      o << name << "_count{" << label << "=\"" << esc(key) << "\"} " << h.n << '\n';
    }
  };
  if (backend && backend->stream) {
    head("qwen3guard_stream_sessions_open", "gauge", "Qwen3Guard-Stream sessions open now");
    o << "qwen3guard_stream_sessions_open " << backend->sessions_open << '\n';
    head("qwen3guard_stream_sessions_total", "counter", "Qwen3Guard-Stream sessions by how they ended (opened: all)");
    o << "qwen3guard_stream_sessions_total{event=\"opened\"} " << backend->sessions_opened << '\n';
    o << "qwen3guard_stream_sessions_total{event=\"closed\"} " << backend->sessions_closed << '\n';
    o << "qwen3guard_stream_sessions_total{event=\"evicted\"} " << backend->sessions_evicted << '\n';
    o << "qwen3guard_stream_sessions_total{event=\"failed\"} " << backend->sessions_failed << '\n';
    head("qwen3guard_stream_evictions_total", "counter", "Qwen3Guard-Stream sessions evicted (idle past the TTL)");
    o << "qwen3guard_stream_evictions_total " << backend->sessions_evicted << '\n';
    head("qwen3guard_stream_tokens_scored_total", "counter", "tokens scored by the Stream response heads");
    o << "qwen3guard_stream_tokens_scored_total " << backend->stream_tokens_scored << '\n';
  }
  head("qwen3guard_ready", "gauge", "1 once the model is loaded and the canary moderation succeeded");
  o << "qwen3guard_ready " << (ready ? 1 : 0) << '\n';
  head("qwen3guard_requests_total", "counter", "HTTP requests by route and status");
  for (const auto& [k, v] : requests_)
    o << "qwen3guard_requests_total{route=\"" << esc(k.first) << "\",status=\"" << k.second << "\"} " << v << '\n';
  head("qwen3guard_request_duration_seconds", "histogram", "request latency by route (until the last byte)");
  hist("qwen3guard_request_duration_seconds", "route", latency_);
  head("qwen3guard_stage_duration_seconds", "histogram",
       "time per stage of a moderation or generation: queue_wait, render_tokenize, prefill, decode");
  hist("qwen3guard_stage_duration_seconds", "stage", stages_);
  head("qwen3guard_prompt_tokens_total", "counter", "prompt tokens after the chat template");
  o << "qwen3guard_prompt_tokens_total " << prompt_ << '\n';
  head("qwen3guard_tokens_prefilled_total", "counter", "prompt tokens computed (not reused from the prefix cache)");
  o << "qwen3guard_tokens_prefilled_total " << prefilled_ << '\n';
  head("qwen3guard_tokens_decoded_total", "counter", "output tokens generated");
  o << "qwen3guard_tokens_decoded_total " << decoded_ << '\n';
  head("qwen3guard_prefix_cache_hit_tokens_total", "counter", "prompt tokens whose KV was reused");
  o << "qwen3guard_prefix_cache_hit_tokens_total " << prefix_hit_ << '\n';
  head("qwen3guard_cancelled_total", "counter", "requests whose client went away before the answer");
  o << "qwen3guard_cancelled_total " << cancelled_ << '\n';
  head("qwen3guard_queue_full_total", "counter", "requests refused with 429 because the queue was full");
  o << "qwen3guard_queue_full_total " << queue_full_ << '\n';
  head("qwen3guard_verdicts_total", "counter", "moderation verdicts by safety label");
  for (const auto& [k, v] : verdicts_) o << "qwen3guard_verdicts_total{safety=\"" << esc(k) << "\"} " << v << '\n';
  head("qwen3guard_verdict_categories_total", "counter", "categories named in moderation verdicts");
  for (const auto& [k, v] : categories_)
    o << "qwen3guard_verdict_categories_total{category=\"" << esc(k) << "\"} " << v << '\n';
  if (backend) {
    auto gauge = [&](const char* name, const char* type, const char* help, double v) {
      head(name, type, help);
      o << name << ' ' << num(v) << '\n';
    };
    const BackendStats& b = *backend;
    gauge("qwen3guard_sequences_running", "gauge", "sequences running on the engine", b.running);
    gauge("qwen3guard_sequences_waiting", "gauge", "sequences waiting on the engine (queued or parked)", b.waiting);
    gauge("qwen3guard_requests_admitted", "gauge", "requests holding a queue place (HTTP side)", b.admitted);
    gauge("qwen3guard_kv_blocks_total", "gauge", "KV pool blocks", b.kv_blocks_total);
    gauge("qwen3guard_kv_blocks_used", "gauge", "KV blocks referenced by sequences", b.kv_blocks_used);
    gauge("qwen3guard_kv_blocks_cached", "gauge", "KV blocks unreferenced but kept by the prefix cache", b.kv_blocks_cached);
    gauge("qwen3guard_kv_blocks_free", "gauge", "KV blocks neither used nor cached",
          static_cast<double>(b.kv_blocks_total - b.kv_blocks_used - b.kv_blocks_cached));
    gauge("qwen3guard_engine_tokens_prefilled_total", "counter", "tokens the engine computed in prefill", b.tokens_prefilled);
    gauge("qwen3guard_engine_tokens_decoded_total", "counter", "tokens the engine decoded", b.tokens_decoded);
    gauge("qwen3guard_engine_prefix_hit_tokens_total", "counter", "prompt tokens served from the engine's prefix cache",
          b.prefix_hit_tokens);
    gauge("qwen3guard_engine_steps_total", "counter", "engine steps (one batched forward each)", b.steps);
    gauge("qwen3guard_engine_preemptions_total", "counter", "sequences preempted to free KV blocks", b.preemptions);
    gauge("qwen3guard_engine_last_progress_age_seconds", "gauge",
          "seconds since the engine last finished a step while work was pending", b.last_progress_age_s);
  }
  return o.str();
}

}  // namespace qg::server
