// base/limits.h and base/file.h: the JSON depth pre-check (strings and escapes skipped,
// linear, no recursion) and the file reader's refusals (directories, devices, size).
#include <filesystem>
#include <functional>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "base/error.h"
#include "base/file.h"
#include "base/limits.h"

namespace {

using qg::limits::check_json_depth;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const qg::Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Limits, JsonDepth) {
  const std::string ok = std::string(128, '[') + std::string(128, ']');
  EXPECT_NO_THROW(check_json_depth(ok, "x.json"));
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const std::string m = error_of([&] { check_json_depth(deep, "x.json"); });
  EXPECT_NE(m.find("x.json: JSON nested deeper than 128 levels (byte 128)"), std::string::npos) << m;
  // Brackets inside strings do not count, escaped quotes do not end a string.
  const std::string in_string = "[\"" + std::string(1000, '[') + "\\\"" + std::string(1000, '{') + "\"]";
  EXPECT_NO_THROW(check_json_depth(in_string, "x.json"));
  EXPECT_NO_THROW(check_json_depth(R"({"a": [1, {"b": "\\"}], "c": "]]]]"})", "x.json", 3));
  EXPECT_ANY_THROW(check_json_depth(R"({"a": [1, {"b": [[]]}]})", "x.json", 3));
}

TEST(Limits, ReadFileRefusesDirectoriesDevicesAndHugeFiles) {
  const auto dir = std::filesystem::temp_directory_path() / "qg_limits_test";
  std::filesystem::create_directories(dir);
  EXPECT_NE(error_of([&] { qg::read_file(dir); }).find("is a directory"), std::string::npos);
  EXPECT_NE(error_of([&] { qg::read_file("/dev/zero"); }).find("not a regular file"), std::string::npos);
  EXPECT_NE(error_of([&] { qg::read_file(dir / "absent"); }).find("cannot open"), std::string::npos);
  const auto f = dir / "big.txt";
  std::ofstream(f) << std::string(100000, 'x');
  EXPECT_EQ(qg::read_file(f).size(), 100000u);
  EXPECT_NE(error_of([&] { qg::read_file(f, 99999); }).find("limit"), std::string::npos);
  EXPECT_EQ(qg::read_file(f, 100000).size(), 100000u);
  std::filesystem::remove_all(dir);
}

}  // namespace
