// moderate_all (moderate.h).
#include "server/moderate.h"

#include <chrono>

#include "base/error.h"

namespace qg::server {

std::variant<std::vector<guard::Result>, ApiError> moderate_all(ServerContext& ctx, const HttpRequest& http,
                                                                const std::vector<guard::Conversation>& inputs,
                                                                const guard::Policy& policy,
                                                                const std::string& param_base) {
  using Clock = std::chrono::steady_clock;
  // Token limits first, on this HTTP thread (render + tokenize), before queueing.
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto t = Clock::now();
    const int64_t n = static_cast<int64_t>(ctx.backend->prepare(inputs[i]).ids.size());
    ctx.metrics.stage("render_tokenize", std::chrono::duration<double>(Clock::now() - t).count());
    const int64_t limit = std::min<int64_t>(ctx.cfg.limits.max_input_tokens, ctx.backend->ctx() - 64);
    if (n > limit)
      return bad_request(cat("input ", i, " is ", n, " tokens after the chat template; the limit is ", limit),
                         inputs.size() > 1 ? cat(param_base, "[", i, "]") : param_base, "context_length_exceeded");
  }
  std::optional<Backend::Ticket> ticket;
  try {
    ticket.emplace(ctx.backend->admit());
  } catch (const QueueFull&) {
    ctx.metrics.rejected_queue_full();
    return ApiError{429, "the server's queue is full; retry later", "rate_limit_error", std::nullopt,
                    std::string("queue_full")};
  }
  guard::ClassifyOptions opt;
  opt.decode = guard::DecodeMode::kFast;
  opt.probabilities = true;
  std::vector<guard::Result> out;
  out.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    double wait_ms = 0;
    guard::Result r;
    try {
      r = ctx.backend->run(*ticket, inputs[i], opt, http.client_gone, &wait_ms);
    } catch (const Cancelled&) {
      ctx.metrics.cancelled();
      return ApiError{499, "client closed the connection", "invalid_request_error", {}, {}};
    } catch (const QueueTimeout&) {
      return ApiError{503, "timed out waiting for the model", "server_error", {}, std::string("timeout")};
    } catch (const QueueFull&) {  // the engine's own queue
      ctx.metrics.rejected_queue_full();
      return ApiError{429, "the server's queue is full; retry later", "rate_limit_error", std::nullopt,
                      std::string("queue_full")};
    } catch (const Error& e) {
      return bad_request(e.what(), inputs.size() > 1 ? cat(param_base, "[", i, "]") : param_base,
                         "context_length_exceeded");
    }
    guard::apply_policy(policy, r);
    ctx.metrics.stage("queue_wait", wait_ms / 1e3);
    ctx.metrics.stage("prefill", r.timings.prefill_ms / 1e3);
    ctx.metrics.stage("decode", r.timings.decode_ms / 1e3);
    ctx.metrics.result(r, true);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace qg::server
