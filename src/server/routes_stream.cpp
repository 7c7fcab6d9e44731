// Qwen3Guard-Stream session routes (docs/server.md "Stream sessions"), served when
// the checkpoint is a Qwen3ForGuardModel:
//   POST   /v1/stream/sessions              {"messages": [...]} | {"prompt": s}
//                                           -> {"id", "object", "prompt": verdict}
//   POST   /v1/stream/sessions/{id}/append  {"text": s} | {"token_ids": [...]}, "final"?
//                                           -> {"id", "tokens": [...], "flagged", "held_bytes"[, "summary"]}
//   POST   /v1/stream/sessions/{id}/reset   -> {"id", "prompt": verdict}
//   DELETE /v1/stream/sessions/{id}         -> {"id", "deleted": true}
// Per-token objects have the fields of `qwen3guard stream --json`'s token events
// (guard/stream_json.h), so a client sees the same verdicts from either.
// Errors: unknown session 404, a session evicted/closed/at its token limit 410, too
// many sessions 429, a Gen checkpoint 404 (no such routes there).
#include <chrono>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "guard/stream_json.h"
#include "server/context.h"
#include "server/sse.h"
#include "server/stream_backend.h"

namespace qg::server {
namespace {

using nlohmann::ordered_json;

constexpr std::string_view kBase = "/v1/stream/sessions";

ordered_json parse(const std::string& s) { return ordered_json::parse(s); }

ordered_json prompt_json(const guard::PromptVerdict& p, const guard::StreamLabels& l) {
  ordered_json j = parse(guard::prompt_event_json(p, l));
  j.erase("event");
  return j;
}

std::string dump(const ordered_json& j) { return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace); }

ApiError gone_error(const guard::SessionGone& e) {
  const std::string m = e.what();
  const bool unknown = m.find("does not exist") != std::string::npos || m.find("no stream session") != std::string::npos;
  return ApiError{unknown ? 404 : 410, m, "invalid_request_error", std::string("id"),
                  std::string(unknown ? "session_not_found" : "session_gone")};
}

// The {id} of /v1/stream/sessions/{id}[/verb].
std::string session_of(const std::string& path) {
  std::string_view s = path;
  s.remove_prefix(std::min(s.size(), kBase.size() + 1));
  return std::string(s.substr(0, s.find('/')));
}

std::optional<ApiError> check_stream(ServerContext& ctx) {
  if (auto e = ctx.check_ready()) return e;
  if (!ctx.stream)
    return ApiError{404, "this server runs a Qwen3Guard-Gen model; /v1/stream/sessions needs a Qwen3Guard-Stream checkpoint",
                    "invalid_request_error", {}, std::string("not_a_stream_model")};
  return std::nullopt;
}

// Runs `f`, turning the moderator's exceptions into the wire's errors.
template <typename F>
HttpResponse guarded(ServerContext& ctx, F&& f) {
  try {
    return f();
  } catch (const guard::SessionGone& e) {
    return error_response(gone_error(e));
  } catch (const guard::SessionLimit& e) {
    ctx.metrics.rejected_queue_full();
    return error_response(ApiError{429, e.what(), "rate_limit_error", {}, std::string("too_many_sessions")});
  } catch (const Error& e) {
    return error_response(bad_request(e.what()));
  }
}

HttpResponse handle_open(ServerContext& ctx, const HttpRequest& http) {
  if (auto e = check_stream(ctx)) return error_response(*e);
  auto parsed = parse_stream_open_request(http.header("Content-Type"), http.body, ctx.cfg.limits);
  if (auto* e = std::get_if<ApiError>(&parsed)) return error_response(*e);
  auto& req = std::get<StreamOpenRequest>(parsed);
  if (auto e = ctx.check_model(req.model)) return error_response(*e);
  return guarded(ctx, [&] {
    StreamBackend& sb = *ctx.stream;
    std::vector<chat::Message> conv;
    for (auto& m : req.messages) conv.push_back({m.role, m.content});
    const auto opened = sb.moderator().open(conv);
    const std::string id = sb.name(opened.id);
    ordered_json body{{"id", id}, {"object", "stream.session"}, {"model", ctx.model_name},
                      {"prompt", prompt_json(opened.prompt, sb.labels())}};
    HttpResponse res = json_response(200, dump(body));
    res.log_tokens = opened.prompt.n_tokens;
    return res;
  });
}

ordered_json tokens_json(StreamBackend& sb, const guard::AppendResult& r) {
  ordered_json a = ordered_json::array();
  for (const auto& v : r.tokens) {
    const int32_t one[1] = {v.token};
    ordered_json t = parse(guard::token_event_json(v, sb.labels(), sb.tokenizer().decode(one)));
    t.erase("event");
    a.push_back(std::move(t));
  }
  return a;
}

ordered_json flag_json(const std::optional<guard::Flag>& f, const guard::StreamLabels& l) {
  if (!f) return nullptr;
  ordered_json j = parse(guard::flag_event_json(*f, l));
  j.erase("event");
  return j;
}

// The SSE variant of append ("stream": true): the input is fed in small pieces (64
// bytes at UTF-8 boundaries, or 16 ids) and every scored token is sent as soon as its
// piece is scored: "data: {token}" events, a {"flagged": ...} event when the rule
// fires, a {"summary": ...} event with final, then "data: [DONE]". An error after the
// headers are out is an {"error": ...} event (the status is already 200).
HttpResponse stream_append(ServerContext& ctx, const std::string& wire_id, guard::StreamModerator::Id id,
                           StreamAppendRequest req) {
  HttpResponse res;
  res.content_type = "text/event-stream";
  res.headers.emplace_back("Cache-Control", "no-cache");
  const auto t0 = std::chrono::steady_clock::now();
  res.stream = [&ctx, wire_id, id, req = std::move(req), t0](const std::function<bool(std::string_view)>& write) {
    StreamBackend& sb = *ctx.stream;
    int status = 200;
    auto send = [&](const guard::AppendResult& r) {
      bool ok = true;
      for (auto& t : tokens_json(sb, r)) ok = ok && write(sse::event(dump(t)));
      if (r.flagged) ok = ok && write(sse::event(dump(ordered_json{{"flagged", flag_json(r.flagged, sb.labels())}})));
      return ok;
    };
    try {
      bool ok = true;
      if (req.text) {
        const std::string& s = *req.text;
        for (size_t at = 0; ok && at < s.size();) {
          size_t end = std::min(s.size(), at + 64);
          while (end < s.size() && (static_cast<unsigned char>(s[end]) & 0xc0) == 0x80) ++end;
          ok = send(sb.moderator().append_text(id, std::string_view(s).substr(at, end - at)));
          at = end;
        }
      } else if (req.has_ids) {
        const std::span<const int32_t> ids(req.token_ids);
        for (size_t at = 0; ok && at < ids.size(); at += 16)
          ok = send(sb.moderator().append_ids(id, ids.subspan(at, std::min<size_t>(16, ids.size() - at))));
      }
      if (ok && req.final) {
        const guard::FinishResult fin = sb.moderator().finish(id);
        ok = send(fin.last);
        ok = ok && write(sse::event(dump(ordered_json{
                       {"summary", {{"response_tokens", fin.response_tokens}, {"flagged", fin.first_flag.has_value()},
                                    {"first_flag", flag_json(fin.first_flag, sb.labels())},
                                    {"final", flag_json(fin.final_verdict, sb.labels())}}}})));
      }
      if (ok) write(sse::kDone);
    } catch (const guard::SessionGone& e) {
      sb.forget(wire_id);
      const ApiError err = gone_error(e);
      status = err.status;
      write(sse::event(error_body(err)));
    } catch (const std::exception& e) {
      status = 400;
      write(sse::event(error_body(bad_request(e.what()))));
    }
    ctx.metrics.request("stream_append", status,
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  };
  return res;
}

HttpResponse handle_append(ServerContext& ctx, const HttpRequest& http) {
  if (auto e = check_stream(ctx)) return error_response(*e);
  auto parsed = parse_stream_append_request(http.header("Content-Type"), http.body, ctx.cfg.limits);
  if (auto* e = std::get_if<ApiError>(&parsed)) return error_response(*e);
  auto& req = std::get<StreamAppendRequest>(parsed);
  const std::string wire_id = session_of(http.path);
  StreamBackend& sb = *ctx.stream;
  for (size_t i = 0; i < req.token_ids.size(); ++i) {
    if (req.token_ids[i] >= sb.vocab_size())
      return error_response(bad_request(cat("'token_ids[", i, "]' = ", req.token_ids[i], " is outside the vocabulary (",
                                            sb.vocab_size(), " ids)"),
                                        cat("token_ids[", i, "]")));
  }
  if (req.stream) {
    const auto id = [&]() -> std::variant<guard::StreamModerator::Id, ApiError> {
      try {
        return sb.lookup(wire_id);
      } catch (const guard::SessionGone& e) {
        return gone_error(e);
      }
    }();
    if (auto* e = std::get_if<ApiError>(&id)) return error_response(*e);
    return stream_append(ctx, wire_id, std::get<guard::StreamModerator::Id>(id), std::move(req));
  }
  return guarded(ctx, [&] {
    const auto id = sb.lookup(wire_id);
    try {
      guard::AppendResult r;
      if (req.text) r = sb.moderator().append_text(id, *req.text);
      else if (req.has_ids) r = sb.moderator().append_ids(id, req.token_ids);
      ordered_json body{{"id", wire_id}, {"object", "stream.append"}};
      std::optional<guard::Flag> flagged = r.flagged;
      ordered_json tokens = tokens_json(sb, r);
      if (req.final) {
        const guard::FinishResult fin = sb.moderator().finish(id);
        for (auto& t : tokens_json(sb, fin.last)) tokens.push_back(std::move(t));
        if (!flagged) flagged = fin.last.flagged;
        r.held_bytes = 0;
        body["tokens"] = std::move(tokens);
        body["flagged"] = flag_json(flagged, sb.labels());
        body["held_bytes"] = 0;
        body["summary"] = ordered_json{{"response_tokens", fin.response_tokens},
                                       {"flagged", fin.first_flag.has_value()},
                                       {"first_flag", flag_json(fin.first_flag, sb.labels())},
                                       {"final", flag_json(fin.final_verdict, sb.labels())}};
      } else {
        body["tokens"] = std::move(tokens);
        body["flagged"] = flag_json(flagged, sb.labels());
        body["held_bytes"] = r.held_bytes;
      }
      HttpResponse res = json_response(200, dump(body));
      res.log_tokens = static_cast<int64_t>(body["tokens"].size());
      return res;
    } catch (const guard::SessionGone&) {
      sb.forget(wire_id);
      throw;
    }
  });
}

HttpResponse handle_reset(ServerContext& ctx, const HttpRequest& http) {
  if (auto e = check_stream(ctx)) return error_response(*e);
  const std::string wire_id = session_of(http.path);
  return guarded(ctx, [&] {
    StreamBackend& sb = *ctx.stream;
    const auto id = sb.lookup(wire_id);
    const guard::PromptVerdict p = sb.moderator().reset(id);
    return json_response(200, dump(ordered_json{{"id", wire_id}, {"object", "stream.session"},
                                                {"prompt", prompt_json(p, sb.labels())}}));
  });
}

HttpResponse handle_delete(ServerContext& ctx, const HttpRequest& http) {
  if (auto e = check_stream(ctx)) return error_response(*e);
  const std::string wire_id = session_of(http.path);
  return guarded(ctx, [&] {
    StreamBackend& sb = *ctx.stream;
    const auto id = sb.lookup(wire_id);
    sb.forget(wire_id);
    try {
      sb.moderator().close(id);
    } catch (const guard::SessionGone&) {  // evicted meanwhile: it is gone either way
    }
    return json_response(200, dump(ordered_json{{"id", wire_id}, {"object", "stream.session.deleted"}, {"deleted", true}}));
  });
}

}  // namespace

void add_stream_routes(Router& r, ServerContext& ctx) {
  r.add("POST", std::string(kBase), "stream_open", true, [&ctx](const HttpRequest& q) { return handle_open(ctx, q); });
  r.add("POST", std::string(kBase) + "/([^/]+)/append", "stream_append", true,
        [&ctx](const HttpRequest& q) { return handle_append(ctx, q); });
  r.add("POST", std::string(kBase) + "/([^/]+)/reset", "stream_reset", true,
        [&ctx](const HttpRequest& q) { return handle_reset(ctx, q); });
  r.add("DELETE", std::string(kBase) + "/([^/]+)", "stream_delete", true,
        [&ctx](const HttpRequest& q) { return handle_delete(ctx, q); });
}

}  // namespace qg::server
