#include "base/error.h"

#include <gtest/gtest.h>

namespace qg {
namespace {

TEST(Error, CheckThrowsWithContext) {
  try {
    int n = 3;
    QG_CHECK(n == 4, "n=", n);
    FAIL() << "QG_CHECK did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("n == 4"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("n=3"), std::string::npos);
  }
}

TEST(Error, FailFormats) {
  EXPECT_THROW(fail("file ", "x.json", ": bad byte ", 7), Error);
}

}  // namespace
}  // namespace qg
