// POST /v1/chat/completions: free-form generation from the Gen model, the way the
// Qwen3Guard model card calls it through vLLM. The conversation goes through the
// checkpoint's chat template exactly as `qwen3guard classify` renders it, so at
// temperature 0 the message text equals `classify --mode text`'s raw text for the
// same conversation (the same decode loop: guard::Classifier in text mode, with
// ClassifyOptions::choose = guard::Sampler when temperature > 0, on the engine).
//
// Streaming: "chat.completion.chunk" events; text is released through
// tok::IncrementalDecoder (whole UTF-8 characters only) and held back while it could
// still be the beginning of a stop string. Choices (n > 1) are generated one after
// another, each with seed + index. A client that disconnects stops the generation
// (write failure or client_gone(), polled every token).
#include <chrono>
#include <random>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "guard/sampler.h"
#include "server/context.h"
#include "server/sse.h"
#include "tokenizer/tokenizer.h"

namespace qg::server {
namespace {

using nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

std::string dump(const ordered_json& j) { return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace); }

// Text of one choice as it is generated: decoding, stop strings, hold-back.
class ChoiceText {
 public:
  ChoiceText(const tok::Tokenizer& tok, const std::vector<std::string>& stop) : dec_(tok, true), stop_(stop) {}
  // Returns false once a stop string has been seen (text_ is cut before it).
  bool push(int32_t id) {
    text_ += dec_.push(id);
    return !check_stop();
  }
  void finish() {
    if (!stopped_) {
      text_ += dec_.finish();
      check_stop();
    }
    final_ = true;
  }
  bool stopped() const { return stopped_; }
  // Text that can be released now (never a possible stop-string prefix, unless final).
  std::string take() {
    size_t safe = text_.size();
    if (!final_ && !stopped_) {
      for (const auto& s : stop_) {
        for (size_t k = std::min(s.size() - 1, text_.size()); k > 0; --k) {
          if (text_.compare(text_.size() - k, k, s, 0, k) == 0) {
            safe = std::min(safe, text_.size() - k);
            break;
          }
        }
      }
    }
    std::string out = text_.substr(sent_, safe > sent_ ? safe - sent_ : 0);
    sent_ = std::max(sent_, safe);
    return out;
  }
  const std::string& text() const { return text_; }

 private:
  bool check_stop() {
    if (stopped_) return true;
    size_t cut = std::string::npos;
    for (const auto& s : stop_) {
      const size_t p = text_.find(s, sent_ > s.size() ? sent_ - s.size() : 0);
      if (p != std::string::npos) cut = std::min(cut, p);
    }
    if (cut == std::string::npos) return false;
    text_.resize(std::max(cut, sent_));
    stopped_ = true;
    return true;
  }
  tok::IncrementalDecoder dec_;
  const std::vector<std::string>& stop_;
  std::string text_;
  size_t sent_ = 0;
  bool stopped_ = false, final_ = false;
};

ordered_json token_logprob(const tok::Tokenizer& tok, int32_t id, double lp) {
  std::string bytes;
  tok.append_token_bytes(id, bytes);
  ordered_json b = ordered_json::array();
  for (unsigned char c : bytes) b.push_back(static_cast<int>(c));
  return ordered_json{{"token", bytes}, {"logprob", lp}, {"bytes", b}};
}

struct Choice {
  std::string text;
  std::string finish_reason = "length";
  ordered_json logprobs;  // {"content": [...]} or null
  int64_t generated = 0;
};

struct ChatJob {
  ServerContext& ctx;
  ChatRequest req;
  guard::SamplingParams sampling;
  int64_t prompt_tokens = 0;
  std::string id;
  int64_t created = 0;
};

// Runs choice `index`; on_delta(text, logprob entries) is called as text is released
// (on this thread; the engine thread only queues the tokens, backend.h).
Choice run_choice(ChatJob& job, Backend::Ticket& ticket, int index, const std::function<bool()>& gone,
                  const std::function<bool(const std::string&, ordered_json&)>& on_delta) {
  const tok::Tokenizer& tok = job.ctx.backend->tokenizer();
  Choice c;
  ChoiceText text(tok, job.req.stop);
  ordered_json lp_pending = ordered_json::array(), lp_all = ordered_json::array();
  bool client_left = false;

  guard::ClassifyOptions opt;
  opt.decode = guard::DecodeMode::kText;
  opt.probabilities = false;
  opt.max_new_tokens = job.req.max_tokens;
  GenerateHooks hooks;
  hooks.sampling = job.sampling;
  hooks.sampling->seed += static_cast<uint64_t>(index);
  hooks.logprobs = job.req.logprobs;
  hooks.top_logprobs = job.req.top_logprobs;
  hooks.on_token = [&](const TokenEvent& ev) {
    if (text.stopped() || client_left) return false;
    if (job.req.logprobs && !tok.is_special(ev.id)) {
      ordered_json e = token_logprob(tok, ev.id, ev.logprob);
      ordered_json top = ordered_json::array();
      for (const auto& [t, lp] : ev.top) top.push_back(token_logprob(tok, t, lp));
      e["top_logprobs"] = top;
      lp_pending.push_back(e);
    }
    const bool more = text.push(ev.id);
    if (on_delta) {
      const std::string d = text.take();
      if ((!d.empty() || !lp_pending.empty()) && !on_delta(d, lp_pending)) {
        client_left = true;
        return false;
      }
    }
    for (auto& e : lp_pending) lp_all.push_back(std::move(e));
    lp_pending = ordered_json::array();
    return more;
  };
  double wait_ms = 0;
  guard::Result r = job.ctx.backend->run(ticket, job.req.messages, opt, gone, &wait_ms, &hooks);
  if (client_left) throw Cancelled();
  job.ctx.metrics.stage("queue_wait", wait_ms / 1e3);
  job.ctx.metrics.stage("prefill", r.timings.prefill_ms / 1e3);
  job.ctx.metrics.stage("decode", r.timings.decode_ms / 1e3);
  job.ctx.metrics.result(r, false);
  // The text is rebuilt from the output ids (the engine may have produced a token after
  // the one that ended the text; ChoiceText ignores everything after a stop).
  text.finish();
  if (on_delta) {
    const std::string d = text.take();
    if (!d.empty() && !on_delta(d, lp_pending)) throw Cancelled();
  }
  for (auto& e : lp_pending) lp_all.push_back(std::move(e));
  c.text = text.text();
  c.generated = r.generated_tokens;
  const bool eos = !r.output_ids.empty() && tok.is_special(r.output_ids.back()) &&
                   r.generated_tokens < job.req.max_tokens;
  if (text.stopped() || eos) c.finish_reason = "stop";
  c.logprobs = job.req.logprobs ? ordered_json{{"content", lp_all}} : ordered_json(nullptr);
  return c;
}

ordered_json usage_json(int64_t prompt, int64_t completion) {
  return {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
}

HttpResponse handle_chat(ServerContext& ctx, const HttpRequest& http) {
  const auto t0 = Clock::now();  // the stream's log line measures from here
  if (auto e = ctx.check_gen()) return error_response(*e);
  auto parsed = parse_chat_request(http.header("Content-Type"), http.body, ctx.cfg.limits);
  if (auto* e = std::get_if<ApiError>(&parsed)) return error_response(*e);
  auto job = std::make_shared<ChatJob>(ChatJob{ctx, std::move(std::get<ChatRequest>(parsed)), {}, 0, "", 0});
  if (auto e = ctx.check_model(job->req.model)) return error_response(*e);

  // Render + tokenize here, on the HTTP thread: the token limits are checked before
  // the request takes a place in the queue.
  const auto pt = Clock::now();
  auto prepared = ctx.backend->prepare(job->req.messages);
  ctx.metrics.stage("render_tokenize", std::chrono::duration<double>(Clock::now() - pt).count());
  job->prompt_tokens = static_cast<int64_t>(prepared.ids.size());
  if (job->prompt_tokens > ctx.cfg.limits.max_input_tokens)
    return error_response(bad_request(cat("the conversation is ", job->prompt_tokens, " tokens after the chat template; ",
                                          "the limit is ", ctx.cfg.limits.max_input_tokens),
                                      "messages", "context_length_exceeded"));
  if (job->prompt_tokens + job->req.max_tokens > ctx.backend->ctx())
    return error_response(bad_request(cat("the conversation is ", job->prompt_tokens, " tokens; with max_tokens ",
                                          job->req.max_tokens, " it exceeds the context of ", ctx.backend->ctx()),
                                      "messages", "context_length_exceeded"));

  const ChatRequest& rq = job->req;
  job->sampling.temperature = rq.temperature.value_or(ctx.gen.temperature);
  job->sampling.top_p = rq.top_p.value_or(ctx.gen.top_p);
  job->sampling.top_k = rq.top_k.value_or(ctx.gen.top_k);
  job->sampling.seed = rq.seed ? *rq.seed : std::random_device{}() * 0x100000001ull;
  job->id = random_id("chatcmpl-");
  job->created = static_cast<int64_t>(std::time(nullptr));

  std::optional<Backend::Ticket> ticket;
  try {
    ticket.emplace(ctx.backend->admit());
  } catch (const QueueFull&) {
    ctx.metrics.rejected_queue_full();
    return error_response(ApiError{429, "the server's queue is full; retry later", "rate_limit_error", std::nullopt,
                                   std::string("queue_full")});
  }

  if (!rq.stream) {
    ordered_json choices = ordered_json::array();
    int64_t completion = 0;
    try {
      for (int i = 0; i < rq.n; ++i) {
        Choice c = run_choice(*job, *ticket, i, http.client_gone, nullptr);
        completion += c.generated;
        choices.push_back({{"index", i},
                           {"message", {{"role", "assistant"}, {"content", c.text}}},
                           {"logprobs", c.logprobs},
                           {"finish_reason", c.finish_reason}});
      }
    } catch (const Cancelled&) {
      ctx.metrics.cancelled();
      return error_response(ApiError{499, "client closed the connection", "invalid_request_error", {}, {}});
    } catch (const QueueTimeout&) {
      return error_response(ApiError{503, "timed out waiting for the model", "server_error", {}, std::string("timeout")});
    } catch (const QueueFull&) {  // the engine's own queue
      ctx.metrics.rejected_queue_full();
      return error_response(ApiError{429, "the server's queue is full; retry later", "rate_limit_error", std::nullopt,
                                     std::string("queue_full")});
    }
    ordered_json out{{"id", job->id},       {"object", "chat.completion"}, {"created", job->created},
                     {"model", ctx.model_name}, {"choices", choices}, {"usage", usage_json(job->prompt_tokens, completion)}};
    HttpResponse res = json_response(200, dump(out));
    res.log_tokens = job->prompt_tokens + completion;
    return res;
  }

  // Streaming: the ticket moves into the producer, which runs after the headers.
  HttpResponse res;
  res.content_type = "text/event-stream";
  res.headers = {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}};
  auto shared_ticket = std::make_shared<Backend::Ticket>(std::move(*ticket));
  auto gone = http.client_gone;
  auto req_copy = std::make_shared<HttpRequest>(HttpRequest{http.method, http.path, {}, "", http.remote, nullptr});
  res.stream = [job, shared_ticket, gone, req_copy, t0](const std::function<bool(std::string_view)>& write) {
    ServerContext& ctx = job->ctx;
    const bool usage = job->req.include_usage;
    auto chunk = [&](ordered_json choices) {
      ordered_json j{{"id", job->id},          {"object", "chat.completion.chunk"}, {"created", job->created},
                     {"model", ctx.model_name}, {"choices", std::move(choices)}};
      if (usage) j["usage"] = nullptr;
      return sse::event(dump(j));
    };
    int64_t completion = 0;
    int status = 200;
    try {
      for (int i = 0; i < job->req.n; ++i) {
        const ordered_json first = ordered_json::array(
            {{{"index", i}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"logprobs", nullptr}, {"finish_reason", nullptr}}});
        if (!write(chunk(first))) throw Cancelled();
        Choice c = run_choice(*job, *shared_ticket, i, gone, [&](const std::string& d, ordered_json& lps) {
          ordered_json delta{{"content", d}};
          ordered_json ch{{"index", i}, {"delta", delta},
                          {"logprobs", job->req.logprobs ? ordered_json{{"content", lps}} : ordered_json(nullptr)},
                          {"finish_reason", nullptr}};
          return write(chunk(ordered_json::array({ch})));
        });
        completion += c.generated;
        const ordered_json last = ordered_json::array(
            {{{"index", i}, {"delta", ordered_json::object()}, {"logprobs", nullptr}, {"finish_reason", c.finish_reason}}});
        if (!write(chunk(last))) throw Cancelled();
      }
      if (usage) {
        ordered_json j{{"id", job->id},          {"object", "chat.completion.chunk"}, {"created", job->created},
                       {"model", ctx.model_name}, {"choices", ordered_json::array()},
                       {"usage", usage_json(job->prompt_tokens, completion)}};
        write(sse::event(dump(j)));
      }
      write(sse::kDone);
    } catch (const Cancelled&) {
      ctx.metrics.cancelled();
      status = 499;
    } catch (const QueueTimeout&) {
      write(sse::event(error_body(ApiError{503, "timed out waiting for the model", "server_error", {}, std::string("timeout")})));
      status = 503;
    } catch (const std::exception& e) {
      write(sse::event(error_body(ApiError{500, e.what(), "server_error", {}, {}})));
      status = 500;
    }
    ctx.log(*req_copy, status, job->prompt_tokens + completion,
            std::chrono::duration<double, std::milli>(Clock::now() - t0).count(), "stream");
    ctx.metrics.request("chat", status, std::chrono::duration<double>(Clock::now() - t0).count());
  };
  return res;
}

}  // namespace

void add_chat_routes(Router& r, ServerContext& ctx) {
  r.add("POST", "/v1/chat/completions", "chat", true, [&ctx](const HttpRequest& q) { return handle_chat(ctx, q); });
}

}  // namespace qg::server
