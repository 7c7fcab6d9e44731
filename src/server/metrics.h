// Prometheus metrics: counters and histograms the routes update, rendered in the
// text exposition format (version 0.0.4) by GET /metrics. Thread-safe (one mutex;
// updates are a few per request). Names are prefixed qwen3guard_.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "guard/result.h"
#include "server/backend.h"

namespace qg::server {

class Metrics {
 public:
  Metrics();
  void request(const std::string& route, int status, double seconds);
  // Stages: "queue_wait", "render_tokenize", "prefill", "decode".
  void stage(const std::string& stage, double seconds);
  // Token counts and the verdict of one finished moderation/generation.
  void result(const guard::Result& r, bool moderation);
  void cancelled() { std::lock_guard<std::mutex> l(mu_); ++cancelled_; }
  void rejected_queue_full() { std::lock_guard<std::mutex> l(mu_); ++queue_full_; }

  // The exposition text, with the backend's gauges (running, waiting, progress age).
  std::string render(const BackendStats* backend, bool ready) const;

 private:
  struct Histogram {
    std::vector<double> bounds;     // upper bounds, ascending (seconds)
    std::vector<uint64_t> counts;   // [bounds.size() + 1], last = +Inf
    double sum = 0;
    uint64_t n = 0;
    void add(double v);
  };
  mutable std::mutex mu_;
  std::vector<double> bounds_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;  // (route, status)
  std::map<std::string, Histogram> latency_;                  // route
  std::map<std::string, Histogram> stages_;                   // stage
  uint64_t prefilled_ = 0, decoded_ = 0, prefix_hit_ = 0, prompt_ = 0;
  uint64_t cancelled_ = 0, queue_full_ = 0;
  std::map<std::string, uint64_t> verdicts_;    // safety label (or "unparsable")
  std::map<std::string, uint64_t> categories_;  // native category
};

}  // namespace qg::server
