// Stream sessions are bounded and never leak: max sessions, max tokens per session,
// idle TTL (an evicted session's next call says so), explicit close, and 10,000
// sessions opened and closed with resident memory flat and every KV block back in the
// pool.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "stream_test_util.h"

namespace qg::guard {
namespace {

using streamtest::StreamStack;

std::vector<int32_t> prompt_ids(const StreamStack& st, const std::string& q) {
  chat::RenderOptions opt;
  opt.add_generation_prompt = true;
  opt.extra["enable_thinking"] = chat::Value::boolean(false);
  return st.tok->encode(st.tpl->render(std::vector<chat::Message>{{"user", q}}, opt));
}

template <typename F>
std::string gone_message(F&& f) {
  try {
    f();
  } catch (const SessionGone& e) {
    return e.what();
  }
  return "(no SessionGone)";
}

TEST(StreamBoundsTest, MaxSessions) {
  if (streamtest::skip_without_fixture()) GTEST_SKIP();
  StreamStack st;
  StreamConfig cfg;
  cfg.max_sessions = 3;
  StreamModerator m(*st.engine, *st.tok, *st.tpl, cfg);
  std::vector<StreamModerator::Id> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(m.open({{"user", "hi"}}).id);
  EXPECT_THROW(m.open({{"user", "hi"}}), SessionLimit);
  m.close(ids[1]);
  EXPECT_NO_THROW(m.open({{"user", "hi"}}));
  EXPECT_EQ(m.stats().open, 3);
}

TEST(StreamBoundsTest, IdleSessionsAreEvictedAndToldSo) {
  if (streamtest::skip_without_fixture()) GTEST_SKIP();
  StreamStack st;
  StreamConfig cfg;
  cfg.max_sessions = 8;
  cfg.idle_ttl_s = 0.05;
  StreamModerator m(*st.engine, *st.tok, *st.tpl, cfg);
  const auto a = m.open({{"user", "hi"}});
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  const auto b = m.open({{"user", "hi"}});  // sweeps a
  EXPECT_NE(gone_message([&] { m.append_text(a.id, "x"); }).find("was evicted: idle"), std::string::npos);
  EXPECT_NO_THROW(m.append_text(b.id, "x"));
  EXPECT_EQ(m.stats().evicted, 1);
  EXPECT_EQ(m.stats().open, 1);
}

TEST(StreamBoundsTest, TokenLimitEndsTheSession) {
  if (streamtest::skip_without_fixture()) GTEST_SKIP();
  StreamStack st;
  const auto ids = prompt_ids(st, "hi");
  StreamConfig cfg;
  cfg.max_tokens = static_cast<int64_t>(ids.size()) + 3;  // the prompt, "\n\n", 2 appended, 1 spare
  StreamModerator m(*st.engine, *st.tok, *st.tpl, cfg);
  const auto o = m.open_ids(ids);
  const std::vector<int32_t> two = {9707, 11};
  EXPECT_NO_THROW(m.append_ids(o.id, two));
  const std::string msg = gone_message([&] { m.append_ids(o.id, two); });
  EXPECT_NE(msg.find("reached its limit of"), std::string::npos) << msg;
  EXPECT_NE(gone_message([&] { m.append_ids(o.id, two); }).find("limit"), std::string::npos);
  EXPECT_EQ(m.stats().open, 0);
}

TEST(StreamBoundsTest, CloseAndUnknownIds) {
  if (streamtest::skip_without_fixture()) GTEST_SKIP();
  StreamStack st;
  StreamModerator m(*st.engine, *st.tok, *st.tpl);
  const auto o = m.open({{"user", "hi"}});
  m.close(o.id);
  EXPECT_NO_THROW(m.close(o.id));  // idempotent
  EXPECT_NE(gone_message([&] { m.append_text(o.id, "x"); }).find("was closed"), std::string::npos);
  EXPECT_NE(gone_message([&] { m.append_text(12345, "x"); }).find("does not exist"), std::string::npos);
  EXPECT_THROW(m.close(12345), SessionGone);
}

int64_t rss_kib() {
  std::ifstream f("/proc/self/statm");
  int64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

TEST(StreamBoundsTest, TenThousandSessionsLeaveMemoryFlat) {
  if (streamtest::skip_without_fixture()) GTEST_SKIP();
  // A small pool (512 blocks of 16 positions), so that it is wholly in use long before
  // the measurement starts: the pool is an arena whose pages are committed as blocks
  // are first touched, and its unreferenced blocks stay reusable (prefix cache).
  StreamStack st("", "stream_tiny_preset", 1, 512);  // the best ISA: speed, not bitwise checks
  StreamModerator m(*st.engine, *st.tok, *st.tpl);
  const auto ids = prompt_ids(st, "How can I make a bomb?");
  const std::vector<int32_t> resp = st.tok->encode("Sure, here is how.", Origin::kContent);
  int64_t rss_warm = 0;
  for (int i = 0; i < 10000; ++i) {
    const auto o = m.open_ids(ids);
    m.append_ids(o.id, std::span(resp).subspan(0, 2));
    if (i % 2) m.append_ids(o.id, std::span(resp).subspan(2));
    m.close(o.id);
    if (i == 2000) rss_warm = rss_kib();
  }
  st.wait_idle();
  const int64_t rss_end = rss_kib();
  RecordProperty("rss_kib_after_2000", std::to_string(rss_warm));
  RecordProperty("rss_kib_after_10000", std::to_string(rss_end));
  EXPECT_LT(rss_end - rss_warm, 4096) << "resident memory grew from " << rss_warm << " KiB to " << rss_end;
  const auto es = st.engine->stats();
  EXPECT_EQ(es.kv_blocks_used, 0);  // every block is back in the pool (free or reusable cache)
  EXPECT_EQ(es.parked, 0);
  EXPECT_EQ(m.stats().open, 0);
  EXPECT_EQ(m.stats().opened, 10000);
  EXPECT_EQ(m.stats().closed, 10000);
}

}  // namespace
}  // namespace qg::guard
