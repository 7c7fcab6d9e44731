// Every code point against the oracle: the pre-tokenizer classes (\p{L}, \p{N}, \s) and
// NFC (alone, before a ccc-1 mark, after a ccc-240 mark, and each canonical
// decomposition), from the goldens make_goldens.js probed out of the oracle. Also the
// UTF-8 repair rule against the Unicode standard's own example.
#include <gtest/gtest.h>

#include <utf8proc.h>

#include <sstream>
#include <unordered_map>

#include "test_support.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/unicode.h"

namespace qg::tok {
namespace {

std::string utf8_of_hex_list(const std::string& list) {
  std::istringstream in(list);
  std::string out, h;
  while (in >> h) append_utf8(out, static_cast<char32_t>(std::stoul(h, nullptr, 16)));
  return out;
}

TEST(TokenizerUnicode, ClassesMatchOracleForEveryCodePoint) {
  const UnicodeTables& t = UnicodeTables::get();
  std::istringstream in(test::read_all(test::golden_path("unicode_classes.txt")));
  std::string first, last, cls;
  size_t covered = 0, bad = 0;
  while (in >> first >> last >> cls) {
    for (char32_t cp = std::stoul(first, nullptr, 16); cp <= std::stoul(last, nullptr, 16); ++cp) {
      ++covered;
      if (cp >= 0xD800 && cp <= 0xDFFF) continue;
      const char ours = t.is_letter(cp) ? 'L' : t.is_number(cp) ? 'N' : t.is_space(cp) ? 'W' : 'O';
      if (ours != cls[0] && ++bad <= 10) ADD_FAILURE() << std::hex << "U+" << static_cast<uint32_t>(cp) << ": oracle " << cls << ", ours " << ours;
    }
  }
  EXPECT_EQ(covered, 0x110000u);
  EXPECT_EQ(bad, 0u);
}

TEST(TokenizerUnicode, NfcMatchesOracleForEveryCodePoint) {
  std::unordered_map<std::string, std::string> changed;
  std::istringstream in(test::read_all(test::golden_path("unicode_nfc.txt")));
  std::string line;
  while (std::getline(in, line)) {
    const size_t tab = line.find('\t');
    changed.emplace(utf8_of_hex_list(line.substr(0, tab)), utf8_of_hex_list(line.substr(tab + 1)));
  }
  ASSERT_GT(changed.size(), 10000u);
  size_t bad = 0, probes = 0;
  auto check = [&](const std::string& probe) {
    ++probes;
    auto it = changed.find(probe);
    const std::string& expect = it == changed.end() ? probe : it->second;
    std::string ours;
    nfc_append(ours, probe);
    if (ours != expect && ++bad <= 10) ADD_FAILURE() << "NFC differs from the oracle for probe of " << probe.size() << " bytes";
  };
  for (char32_t cp = 1; cp < 0x110000; ++cp) {
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp == '|') continue;
    std::string x;
    append_utf8(x, cp);
    check(x);
    check("b" + x + "\xCC\xB4");  // U+0334
    check("b\xCD\x85" + x);       // U+0345
    utf8proc_int32_t d[8];
    int bound = 0;
    const auto n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(cp), d, 8, UTF8PROC_DECOMPOSE, &bound);
    if (n > 1 || (n == 1 && d[0] != static_cast<utf8proc_int32_t>(cp))) {
      std::string nfd;
      for (int k = 0; k < n; ++k) append_utf8(nfd, static_cast<char32_t>(d[k]));
      check(nfd);
    }
  }
  EXPECT_EQ(bad, 0u) << "of " << probes << " probes";
}

TEST(TokenizerUnicode, LossyRepairFollowsTheUnicodeStandardExample) {
  // Unicode 15 §3.9, "U+FFFD Substitution of Maximal Subparts" (Table 3-8).
  std::string out;
  EXPECT_EQ(append_utf8_lossy(out, "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"), 6u);
  EXPECT_EQ(out, "a\uFFFD\uFFFD\uFFFDb\uFFFDc\uFFFD\uFFFDd");
  out.clear();
  append_utf8_lossy(out, std::string("\xED\xA0\x80\xF0\x9F\x98", 6));  // surrogate, truncated 4-byte
  EXPECT_EQ(out, "\uFFFD\uFFFD\uFFFD\uFFFD");
  EXPECT_TRUE(is_valid_utf8("h\xC3\xA9llo \xF0\x9F\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));
}

TEST(TokenizerUnicode, SplitTilesTheText) {
  const std::string text = "Hello, world!\r\n  \t  x's 'LL 12\xE4\xB8\xAD\xE6\x96\x87  \n";
  size_t pos = 0, pieces = 0;
  qwen2_split(text, [&](size_t b, size_t e) {
    EXPECT_EQ(b, pos);
    EXPECT_LT(b, e);
    pos = e;
    ++pieces;
  });
  EXPECT_EQ(pos, text.size());
  EXPECT_GT(pieces, 10u);
}

}  // namespace
}  // namespace qg::tok
