// StreamModerator: sessions as parked engine sequences (see stream_session.h).
//
// Threads: a client thread turns its call into one Request (tokens to feed, positions
// whose heads it wants, a promise), queues it on the session's Channel and wakes the
// engine sequence; the engine thread's Driver feeds it, computes the heads from the
// final hidden states in consume(), and fulfils the promise. The Driver never blocks
// and never calls back into the moderator; the moderator's table lock is never held
// while waiting for the engine.
#include "guard/stream_session.h"

#include <chrono>
#include <deque>
#include <future>
#include <map>
#include <mutex>

#include "kernels/kernels.h"
#include "model/qwen3.h"
#include "tokenizer/incremental_encoder.h"
#include "tokenizer/tokenizer.h"

namespace qg::guard {

namespace {

using Clock = std::chrono::steady_clock;

struct Request {
  std::vector<int32_t> tokens;
  std::vector<int32_t> out_positions;
  std::promise<model::StreamHeadLogits> done;
};

// Shared by a session (client side) and its Driver (engine side).
struct Channel {
  std::mutex mu;
  std::deque<Request> queue;           // guarded by mu
  std::optional<Request> inflight;     // engine thread only
  bool ended = false;                  // guarded by mu: the engine sequence has finished
  std::string why;                     // guarded by mu: why it ended
};

// The engine-side half. Heads are computed here, on the engine thread, with the
// moderator's context and scratch (only the engine thread touches them).
struct HeadsRunner {
  const model::Qwen3Model& model;
  kernels::Context ctx;
  model::StreamHeadScratch scratch;
  HeadsRunner(const model::Qwen3Model& m, kernels::Isa isa) : model(m), ctx(1, isa) {}
};

class Driver : public runtime::SequenceDriver {
 public:
  Driver(std::shared_ptr<Channel> ch, std::shared_ptr<HeadsRunner> heads, bool one_shot)
      : ch_(std::move(ch)), heads_(std::move(heads)), one_shot_(one_shot) {}

  runtime::Next next(runtime::Feed& f) override {
    std::lock_guard lk(ch_->mu);
    if (ch_->queue.empty()) return one_shot_ && fed_ ? runtime::Next::kDone : runtime::Next::kWait;
    ch_->inflight.emplace(std::move(ch_->queue.front()));
    ch_->queue.pop_front();
    f.tokens = ch_->inflight->tokens;
    f.out_positions = ch_->inflight->out_positions;
    f.want_hidden = !f.out_positions.empty();
    fed_ = true;
    return runtime::Next::kFeed;
  }

  void consume(const runtime::FeedOutput& out) override {
    Request r = std::move(*ch_->inflight);
    ch_->inflight.reset();
    const auto& m = heads_->model;
    const auto n = static_cast<int64_t>(r.out_positions.size());
    model::StreamHeadLogits logits;
    try {
      model::stream_heads(heads_->ctx, *m.stream_heads(), m.config(), out.hidden.data(), n, logits,
                          heads_->scratch);
    } catch (...) {
      r.done.set_exception(std::current_exception());
      throw;  // the engine ends this sequence with the error
    }
    r.done.set_value(std::move(logits));
  }

  void finish(std::exception_ptr error) noexcept override {
    std::lock_guard lk(ch_->mu);
    ch_->ended = true;
    std::exception_ptr e = error;
    if (!e) e = std::make_exception_ptr(SessionGone("the stream session ended"));
    try {
      if (error) std::rethrow_exception(error);
    } catch (const std::exception& x) {
      ch_->why = x.what();
    } catch (...) {
      ch_->why = "unknown error";
    }
    if (ch_->inflight) {
      ch_->inflight->done.set_exception(e);
      ch_->inflight.reset();
    }
    for (Request& r : ch_->queue) r.done.set_exception(e);
    ch_->queue.clear();
  }

 private:
  std::shared_ptr<Channel> ch_;
  std::shared_ptr<HeadsRunner> heads_;
  bool one_shot_;
  bool fed_ = false;
};

kernels::Isa engine_isa(const runtime::Engine& e) {
  const std::string& name = e.config().isa;
  return name.empty() ? kernels::isa_from_env_or(kernels::best_isa()) : kernels::parse_isa(name, "engine isa");
}

void require_stream(const model::Qwen3Model& m) {
  if (m.stream_heads() == nullptr) {
    fail("this checkpoint is a ", m.config().architecture,
         ", not a Qwen3ForGuardModel (Qwen3Guard-Stream): it has no token-level heads");
  }
}

}  // namespace

model::StreamHeadLogits stream_head_logits(runtime::Engine& engine, std::span<const int32_t> ids) {
  require_stream(engine.model());
  if (ids.empty()) fail("stream: no token ids");
  auto ch = std::make_shared<Channel>();
  auto heads = std::make_shared<HeadsRunner>(engine.model(), engine_isa(engine));
  Request r;
  r.tokens.assign(ids.begin(), ids.end());
  for (size_t i = 0; i < ids.size(); ++i) r.out_positions.push_back(static_cast<int32_t>(i));
  auto fut = r.done.get_future();
  ch->queue.push_back(std::move(r));
  engine.submit(std::make_unique<Driver>(ch, heads, true));
  return fut.get();
}

// ---- Sessions -------------------------------------------------------------------------

struct Session {
  enum class Mode : uint8_t { kNone, kText, kIds };
  std::mutex mu;  // serialises the calls on this session
  StreamModerator::Id id = 0;
  runtime::Engine::SeqId seq = 0;
  std::shared_ptr<Channel> ch;
  // Immutable after open.
  std::vector<int32_t> prompt_tokens;  // fed at open: up to the header's last added token
  int64_t user_end = 0;                // index of the <|im_end|> closing the last user turn
  std::vector<int32_t> tail_tokens;    // the header after its last added token ("\n\n")
  std::string tail_text;               // their text: the encoder's prefix in text mode
  bool ids_only = false;
  // Response state (reset() clears it).
  Mode mode = Mode::kNone;
  std::optional<tok::IncrementalEncoder> enc;
  size_t bytes_emitted = 0;            // text-mode bytes of the tokens emitted so far
  bool tail_fed = false;               // the header tail went in (as tokens or as the encoder's prefix)
  int64_t n_positions = 0;
  int64_t n_response = 0;
  bool finished = false;
  std::optional<StreamRule> rule;
  PromptVerdict prompt;
  // Guarded by the moderator's table lock.
  int busy = 0;
  Clock::time_point last_used;
};

struct StreamModerator::Impl {
  runtime::Engine& engine;
  const model::Qwen3Model& model;
  const tok::Tokenizer& tok;
  const chat::ChatTemplate& tpl;
  StreamConfig cfg;
  StreamLabels labels;
  std::shared_ptr<HeadsRunner> heads;
  int32_t im_start = -1, im_end = -1, user = -1;
  std::vector<int32_t> closing;  // "<|im_end|>\n"
  int64_t max_tokens = 0;

  mutable std::mutex mu;  // the table, the tombstones, the stats
  std::map<Id, std::shared_ptr<Session>> sessions;
  std::map<Id, std::string> gone;  // why a recent id is no longer open
  std::deque<Id> gone_order;
  Id next_id = 1;
  StreamStats st;

  Impl(runtime::Engine& e, const tok::Tokenizer& t, const chat::ChatTemplate& c, StreamConfig sc)
      : engine(e), model(e.model()), tok(t), tpl(c), cfg(sc) {
    require_stream(model);
    labels = StreamLabels::from_config(*model.config().stream);
    heads = std::make_shared<HeadsRunner>(model, engine_isa(engine));
    auto id_of = [&](const char* s) {
      const auto v = tok.token_to_id(s);
      if (!v) fail("stream: the tokenizer has no token ", s);
      return *v;
    };
    im_start = id_of("<|im_start|>");
    im_end = id_of("<|im_end|>");
    user = id_of("user");
    closing = tok.encode("<|im_end|>\n", Origin::kTemplate);
    max_tokens = engine.max_sequence_tokens();
    if (cfg.max_tokens > 0) max_tokens = std::min(max_tokens, cfg.max_tokens);
    if (cfg.max_sessions < 1) fail("stream: max_sessions must be at least 1");
  }

  void bury(Id id, std::string why) {  // mu held
    gone[id] = std::move(why);
    gone_order.push_back(id);
    while (gone_order.size() > 4096) {  // bounded: older ids become "does not exist"
      gone.erase(gone_order.front());
      gone_order.pop_front();
    }
  }

  // Marks the session busy (not evictable) for the duration of a call.
  struct Use {
    Impl* impl;
    std::shared_ptr<Session> s;
    ~Use() {
      std::lock_guard lk(impl->mu);
      --s->busy;
      s->last_used = Clock::now();
    }
  };

  Use use(Id id) {
    std::lock_guard lk(mu);
    const auto it = sessions.find(id);
    if (it == sessions.end()) {
      const auto g = gone.find(id);
      if (g != gone.end()) fail_gone(id, g->second);
      throw SessionGone(cat("stream session ", id, " does not exist"));
    }
    ++it->second->busy;
    return Use{this, it->second};
  }

  [[noreturn]] static void fail_gone(Id id, const std::string& why) {
    throw SessionGone(cat("stream session ", id, " ", why));
  }

  // Removes a session from the table (its engine sequence is cancelled) and records why.
  void end_session(Session& s, const std::string& why, bool failed) {
    {
      std::lock_guard lk(mu);
      if (sessions.erase(s.id) == 0) return;
      bury(s.id, why);
      --st.open;
      (failed ? st.failed : st.closed) += 1;
    }
    engine.cancel(s.seq);
  }

  int64_t sweep() {
    if (cfg.idle_ttl_s <= 0) return 0;
    std::vector<runtime::Engine::SeqId> cancel;
    const auto now = Clock::now();
    {
      std::lock_guard lk(mu);
      for (auto it = sessions.begin(); it != sessions.end();) {
        Session& s = *it->second;
        if (s.busy == 0 && std::chrono::duration<double>(now - s.last_used).count() > cfg.idle_ttl_s) {
          cancel.push_back(s.seq);
          bury(s.id, cat("was evicted: idle for more than ", cfg.idle_ttl_s, " s"));
          ++st.evicted;
          --st.open;
          it = sessions.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto seq : cancel) engine.cancel(seq);
    return static_cast<int64_t>(cancel.size());
  }

  // Queues one request on a live session and waits for its head logits.
  model::StreamHeadLogits run(Session& s, std::vector<int32_t> tokens, std::vector<int32_t> outs) {
    if (s.n_positions + static_cast<int64_t>(tokens.size()) > max_tokens) {
      const int64_t want = s.n_positions + static_cast<int64_t>(tokens.size());
      const std::string why = cat("reached its limit of ", max_tokens, " tokens (", want, " needed); it was closed");
      end_session(s, why, true);
      fail_gone(s.id, why);
    }
    std::future<model::StreamHeadLogits> fut;
    std::unique_lock lk(s.ch->mu);
    if (s.ch->ended) {
      const std::string why = cat("ended: ", s.ch->why);
      lk.unlock();
      end_session(s, why, true);
      fail_gone(s.id, why);
    }
    Request r;
    r.tokens = std::move(tokens);
    r.out_positions = std::move(outs);
    fut = r.done.get_future();
    const auto n = static_cast<int64_t>(r.tokens.size());
    s.ch->queue.push_back(std::move(r));
    lk.unlock();
    engine.wake(s.seq);
    try {
      model::StreamHeadLogits out = fut.get();
      s.n_positions += n;
      return out;
    } catch (const SessionGone&) {
      throw;
    } catch (const std::exception& e) {
      const std::string why = cat("failed: ", e.what());
      end_session(s, why, true);
      fail_gone(s.id, why);
    }
  }

  // Starts the engine sequence of a session: feeds the prompt, returns its verdict.
  PromptVerdict start(Session& s) {
    s.ch = std::make_shared<Channel>();
    Request r;
    r.tokens = s.prompt_tokens;
    r.out_positions = {static_cast<int32_t>(s.user_end)};
    auto fut = r.done.get_future();
    s.ch->queue.push_back(std::move(r));
    s.seq = engine.submit(std::make_unique<Driver>(s.ch, heads, false));
    const model::StreamHeadLogits lg = fut.get();
    s.n_positions = static_cast<int64_t>(s.prompt_tokens.size());
    PromptVerdict p;
    p.position = s.user_end;
    p.n_tokens = s.n_positions;
    p.query = read_head(lg.query_risk(0), lg.query_category(0), labels.query_risk);
    return p;
  }

  void clear_response(Session& s) {
    s.mode = s.ids_only ? Session::Mode::kIds : Session::Mode::kNone;
    s.enc.reset();
    s.bytes_emitted = 0;
    s.tail_fed = false;
    s.n_response = 0;
    s.finished = false;
    s.rule.emplace(cfg.rule);
  }

  Opened open(std::vector<int32_t> ids, bool ids_only) {
    sweep();
    // Where the prompt verdict is read: the first <|im_end|> after the last <|im_start|>user.
    int64_t start_user = -1;
    for (int64_t i = static_cast<int64_t>(ids.size()) - 2; i >= 0; --i) {
      if (ids[i] == im_start && ids[i + 1] == user) {
        start_user = i;
        break;
      }
    }
    if (start_user < 0) fail("stream: the conversation has no user turn (<|im_start|>user)");
    int64_t user_end = -1;
    for (auto i = start_user + 2; i < static_cast<int64_t>(ids.size()); ++i) {
      if (ids[i] == im_end) {
        user_end = i;
        break;
      }
    }
    if (user_end < 0) fail("stream: the last user turn is not closed by <|im_end|>");
    for (auto i = user_end + 1; i + 1 < static_cast<int64_t>(ids.size()); ++i) {
      if (ids[i] == im_start && ids[i + 1] == user) fail("stream: internal: a later user turn");
    }
    // The header's text after its last added token is tokenized together with the
    // response (pre-tokenizer pieces cross that boundary: "\n\n" + "\nHi" is "\n\n\n", "Hi").
    auto last_added = user_end;
    for (auto i = user_end + 1; i < static_cast<int64_t>(ids.size()); ++i) {
      if (tok.is_added(ids[i])) last_added = i;
    }
    auto s = std::make_shared<Session>();
    s->prompt_tokens.assign(ids.begin(), ids.begin() + last_added + 1);
    s->tail_tokens.assign(ids.begin() + last_added + 1, ids.end());
    for (int32_t t : s->tail_tokens) tok.append_token_bytes(t, s->tail_text);
    s->user_end = user_end;
    s->ids_only = ids_only;
    if (static_cast<int64_t>(ids.size()) > max_tokens) {
      fail("stream: the conversation has ", ids.size(), " tokens, more than the session limit of ", max_tokens);
    }
    {
      std::lock_guard lk(mu);
      if (static_cast<int64_t>(sessions.size()) >= cfg.max_sessions) {
        throw SessionLimit(cat("stream: ", sessions.size(), " sessions are open, the limit (max_sessions)"));
      }
      s->id = next_id++;
      s->busy = 1;
      s->last_used = Clock::now();
      sessions[s->id] = s;
      ++st.open;
      ++st.opened;
    }
    Use u{this, s};
    std::lock_guard sl(s->mu);
    clear_response(*s);
    try {
      s->prompt = start(*s);
    } catch (const std::exception& e) {
      end_session(*s, cat("failed to open: ", e.what()), true);
      throw;
    }
    return Opened{s->id, s->prompt};
  }

  // Scores new tokens; the first n_template_front of them are template text.
  AppendResult score(Session& s, std::vector<int32_t> tokens, size_t n_template_front) {
    AppendResult res;
    if (tokens.empty()) return res;
    std::vector<int32_t> outs(tokens.size());
    for (size_t i = 0; i < outs.size(); ++i) outs[i] = static_cast<int32_t>(i);
    const int64_t pos0 = s.n_positions;
    const model::StreamHeadLogits lg = run(s, tokens, std::move(outs));
    for (size_t j = 0; j < tokens.size(); ++j) {
      TokenVerdict v;
      v.token = tokens[j];
      v.position = pos0 + static_cast<int64_t>(j);
      v.response = read_head(lg.risk(static_cast<int64_t>(j)), lg.category(static_cast<int64_t>(j)),
                             labels.response_risk);
      const float* row = lg.all.data() + static_cast<int64_t>(j) * lg.width();
      v.logits.assign(row, row + lg.width());
      if (j >= n_template_front) {
        v.index = s.n_response++;
        if (auto f = s.rule->push(v.response)) res.flagged = f;
      }
      res.tokens.push_back(v);
    }
    {
      std::lock_guard lk(mu);
      st.tokens_scored += static_cast<int64_t>(tokens.size());
    }
    return res;
  }

  // Text mode: how many of the newly emitted tokens (at their front) lie wholly inside
  // the template prefix (the header's "\n\n"); those are scored but, as in the
  // evaluation code, not part of the response the rule reads.
  size_t count_template(Session& s, const std::vector<int32_t>& toks) {
    size_t n = 0;
    std::string buf;
    for (size_t i = 0; i < toks.size(); ++i) {
      buf.clear();
      tok.append_token_bytes(toks[i], buf);
      s.bytes_emitted += buf.size();
      if (n == i && s.bytes_emitted <= s.tail_text.size()) ++n;
    }
    return n;
  }

  void check_open(Session& s) {
    if (s.finished) fail("stream session ", s.id, ": the response was finished; reset or close the session");
  }

  AppendResult append_text(Id id, std::string_view chunk) {
    sweep();
    Use u = use(id);
    Session& s = *u.s;
    std::lock_guard sl(s.mu);
    check_open(s);
    if (s.mode == Session::Mode::kIds) fail("stream session ", id, ": appends are token ids; text cannot be mixed in");
    if (s.mode == Session::Mode::kNone) {
      s.mode = Session::Mode::kText;
      s.enc.emplace(tok, s.tail_text, cfg.max_held_bytes);
      s.tail_fed = true;  // as the encoder's prefix
    }
    std::vector<int32_t> toks;
    s.enc->push(chunk, toks);
    const size_t n_tmpl = count_template(s, toks);
    AppendResult r = score(s, std::move(toks), n_tmpl);
    r.held_bytes = s.enc->held_bytes();
    return r;
  }

  AppendResult append_ids(Id id, std::span<const int32_t> ids) {
    sweep();
    Use u = use(id);
    Session& s = *u.s;
    std::lock_guard sl(s.mu);
    check_open(s);
    if (s.mode == Session::Mode::kText) fail("stream session ", id, ": appends are text; token ids cannot be mixed in");
    std::vector<int32_t> toks;
    size_t n_tmpl = 0;
    if (!s.tail_fed) {
      toks = s.tail_tokens;  // the header's "\n\n" goes first, as the template renders it
      n_tmpl = toks.size();
      s.tail_fed = true;
    }
    s.mode = Session::Mode::kIds;
    for (int32_t t : ids) {
      if (t < 0 || t >= model.config().vocab_size) {
        fail("stream session ", id, ": token id ", t, " is outside the vocabulary [0, ", model.config().vocab_size, ")");
      }
    }
    toks.insert(toks.end(), ids.begin(), ids.end());
    return score(s, std::move(toks), n_tmpl);
  }

  FinishResult finish(Id id) {
    Use u = use(id);
    Session& s = *u.s;
    std::lock_guard sl(s.mu);
    check_open(s);
    std::vector<int32_t> toks;
    size_t n_tmpl = 0;
    if (s.mode == Session::Mode::kText) {
      s.enc->finish(toks);
      n_tmpl = count_template(s, toks);
    } else if (!s.tail_fed) {
      toks = s.tail_tokens;  // an empty response: the header tail was never fed
      n_tmpl = toks.size();
      s.tail_fed = true;
    }
    toks.insert(toks.end(), closing.begin(), closing.end());
    FinishResult f;
    f.last = score(s, std::move(toks), n_tmpl);
    s.finished = true;
    f.first_flag = s.rule->first_flag();
    f.final_verdict = s.rule->final_verdict();
    f.response_tokens = s.n_response;
    return f;
  }

  PromptVerdict reset(Id id) {
    Use u = use(id);
    Session& s = *u.s;
    std::lock_guard sl(s.mu);
    engine.cancel(s.seq);  // the old sequence's blocks go back to the pool (and its prefix cache)
    clear_response(s);
    try {
      s.prompt = start(s);
    } catch (const std::exception& e) {
      end_session(s, cat("failed to reset: ", e.what()), true);
      throw;
    }
    return s.prompt;
  }

  void close(Id id) {
    std::shared_ptr<Session> s;
    {
      std::lock_guard lk(mu);
      const auto it = sessions.find(id);
      if (it == sessions.end()) {
        const auto g = gone.find(id);
        if (g != gone.end() && g->second == "was closed") return;  // idempotent
        if (g != gone.end()) fail_gone(id, g->second);
        throw SessionGone(cat("stream session ", id, " does not exist"));
      }
      s = it->second;
    }
    end_session(*s, "was closed", false);
  }
};

StreamModerator::StreamModerator(runtime::Engine& engine, const tok::Tokenizer& tok, const chat::ChatTemplate& tpl,
                                 StreamConfig cfg)
    : impl_(std::make_unique<Impl>(engine, tok, tpl, cfg)) {}

StreamModerator::~StreamModerator() {
  std::vector<runtime::Engine::SeqId> seqs;
  {
    std::lock_guard lk(impl_->mu);
    for (auto& [id, s] : impl_->sessions) seqs.push_back(s->seq);
    impl_->sessions.clear();
  }
  for (auto seq : seqs) impl_->engine.cancel(seq);
}

StreamModerator::Opened StreamModerator::open(const std::vector<chat::Message>& conversation) {
  if (conversation.empty() || conversation.back().role != "user") {
    fail("stream: a session opens with a conversation that ends with a user message");
  }
  chat::RenderOptions opt;
  opt.add_generation_prompt = true;
  opt.extra["enable_thinking"] = chat::Value::boolean(false);
  const Segments segs = impl_->tpl.render(conversation, opt);
  return impl_->open(impl_->tok.encode(segs), false);
}

StreamModerator::Opened StreamModerator::open_ids(std::span<const int32_t> ids) {
  for (int32_t t : ids) {
    if (t < 0 || t >= impl_->model.config().vocab_size) fail("stream: token id ", t, " is outside the vocabulary");
  }
  return impl_->open(std::vector<int32_t>(ids.begin(), ids.end()), true);
}

AppendResult StreamModerator::append_text(Id id, std::string_view chunk) { return impl_->append_text(id, chunk); }
AppendResult StreamModerator::append_ids(Id id, std::span<const int32_t> ids) { return impl_->append_ids(id, ids); }
FinishResult StreamModerator::finish(Id id) { return impl_->finish(id); }
PromptVerdict StreamModerator::reset(Id id) { return impl_->reset(id); }
void StreamModerator::close(Id id) { impl_->close(id); }
int64_t StreamModerator::sweep() { return impl_->sweep(); }
StreamStats StreamModerator::stats() const {
  std::lock_guard lk(impl_->mu);
  return impl_->st;
}
const StreamLabels& StreamModerator::labels() const { return impl_->labels; }
const StreamConfig& StreamModerator::config() const { return impl_->cfg; }
const tok::Tokenizer& StreamModerator::tokenizer() const { return impl_->tok; }

}  // namespace qg::guard
