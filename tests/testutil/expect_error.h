// Test helper: runs f, expects a qg::Error, and checks that its message contains every
// fragment (file, tensor, problem). Errors are part of the contract (docs/STYLE.md).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/error.h"

namespace qg::testutil {

template <typename F>
void expect_error(F&& f, const std::vector<std::string>& fragments) {
  try {
    f();
    FAIL() << "no error thrown; expected one mentioning " << fragments.front();
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& frag : fragments) EXPECT_NE(msg.find(frag), std::string::npos) << "message: " << msg;
  }
}

}  // namespace qg::testutil
