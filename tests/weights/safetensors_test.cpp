// Tests of the safetensors reader and TensorStore: correct files give exact views;
// every kind of corrupt, truncated or inconsistent file is rejected with a message
// that names the file, the tensor (where there is one) and the problem.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "base/error.h"
#include "testutil/checkpoint_writer.h"
#include "testutil/expect_error.h"
#include "weights/safetensors.h"
#include "weights/tensor_store.h"

namespace qg::weights {
namespace {

using testutil::TensorSpec;
using testutil::WriteOptions;

std::vector<TensorSpec> two_tensors() {
  return {TensorSpec{"a.weight", "F32", {2, 3}, testutil::encode({1, 2, 3, 4, 5, 6}, "F32")},
          TensorSpec{"b.weight", "BF16", {4}, testutil::encode({1.5f, -2.0f, 0.25f, 8.0f}, "BF16")}};
}

using testutil::expect_error;

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testutil::temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name()); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(SafetensorsTest, ReadsViewsExactly) {
  testutil::write_safetensors(dir_ / "m.safetensors", two_tensors());
  SafetensorsFile f(dir_ / "m.safetensors");
  ASSERT_EQ(f.tensors().size(), 2u);
  const TensorView& a = f.tensors()[0].name == "a.weight" ? f.tensors()[0] : f.tensors()[1];
  const TensorView& b = f.tensors()[0].name == "a.weight" ? f.tensors()[1] : f.tensors()[0];
  EXPECT_EQ(a.dtype, DType::kF32);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(static_cast<const float*>(a.data)[5], 6.0f);
  EXPECT_EQ(b.dtype, DType::kBF16);
  EXPECT_EQ(bf16_to_f32(static_cast<const uint16_t*>(b.data)[1]), -2.0f);
  EXPECT_EQ(b.nbytes, 8u);
  // Views point into the mapping, not into a copy.
  EXPECT_GE(static_cast<const uint8_t*>(a.data), f.file().data());
  EXPECT_LT(static_cast<const uint8_t*>(a.data), f.file().data() + f.file().size());
}

TEST_F(SafetensorsTest, RejectsFileShorterThanLengthField) {
  testutil::write_safetensors(dir_ / "m.safetensors", two_tensors(), WriteOptions{.header_text = {}, .truncate_to = 5});
  expect_error([&] { SafetensorsFile f(dir_ / "m.safetensors"); }, {"m.safetensors", "truncated", "5 bytes"});
}

TEST_F(SafetensorsTest, RejectsHeaderLengthPastEof) {
  testutil::write_safetensors(dir_ / "m.safetensors", two_tensors(), WriteOptions{.header_text = {}, .declared_len = 1 << 20});
  expect_error([&] { SafetensorsFile f(dir_ / "m.safetensors"); },
               {"m.safetensors", "header length 1048576", "past the end of the file"});
}

TEST_F(SafetensorsTest, RejectsTruncatedData) {
  // Header intact, last tensor's bytes cut short.
  const auto ts = two_tensors();
  const std::string header = testutil::header_for(ts).dump();
  const int64_t full = 8 + static_cast<int64_t>((header.size() + 7) / 8 * 8) + 24 + 8;
  testutil::write_safetensors(dir_ / "m.safetensors", ts, WriteOptions{.header_text = {}, .truncate_to = full - 3});
  expect_error([&] { SafetensorsFile f(dir_ / "m.safetensors"); },
               {"m.safetensors", "out of range", "truncated"});
}

TEST_F(SafetensorsTest, RejectsBadJson) {
  testutil::write_safetensors(dir_ / "m.safetensors", two_tensors(),
                              WriteOptions{.header_text = R"({"a.weight": {"dtype": "F32", )"});
  expect_error([&] { SafetensorsFile f(dir_ / "m.safetensors"); }, {"m.safetensors", "not valid JSON"});
}

TEST_F(SafetensorsTest, RejectsOffsetOutOfRange) {
  auto h = testutil::header_for(two_tensors());
  h["b.weight"]["data_offsets"] = {24, 4000};
  testutil::write_safetensors(dir_ / "m.safetensors", two_tensors(), WriteOptions{.header_text = h.dump()});
  expect_error([&] { SafetensorsFile f(dir_ / "m.safetensors"); },
               {"m.safetensors", "tensor b.weight", "out of range"});
}

TEST_F(SafetensorsTest, RejectsOverlappingTensors) {
  auto ts = two_tensors();
  ts.push_back(TensorSpec{"c.weight", "F32", {2}, testutil::encode({7, 8}, "F32")});
  auto h = testutil::header_for(ts);
  h["c.weight"]["data_offsets"] = {16, 24};  // inside a.weight's bytes 0..24
  testutil::write_safetensors(dir_ / "m.safetensors", ts, WriteOptions{.header_text = h.dump()});
  expect_error([&] { SafetensorsFile f(dir_ / "m.safetensors"); },
               {"m.safetensors", "c.weight", "overlaps", "a.weight"});
}

TEST_F(SafetensorsTest, RejectsUnsupportedDtype) {
  auto ts = two_tensors();
  ts[0].dtype = "I64";
  ts[0].shape = {3};
  testutil::write_safetensors(dir_ / "m.safetensors", ts);
  expect_error([&] { SafetensorsFile f(dir_ / "m.safetensors"); },
               {"m.safetensors", "tensor a.weight", "unsupported dtype \"I64\""});
}

TEST_F(SafetensorsTest, RejectsShapeByteLengthMismatch) {
  auto h = testutil::header_for(two_tensors());
  h["a.weight"]["shape"] = {3, 3};
  testutil::write_safetensors(dir_ / "m.safetensors", two_tensors(), WriteOptions{.header_text = h.dump()});
  expect_error([&] { SafetensorsFile f(dir_ / "m.safetensors"); },
               {"m.safetensors", "tensor a.weight", "byte length 24", "[3, 3]", "36 bytes"});
}

TEST_F(SafetensorsTest, RejectsNegativeDimensionAndMisalignedData) {
  auto h = testutil::header_for(two_tensors());
  h["a.weight"]["shape"] = {-2, 3};
  testutil::write_safetensors(dir_ / "m.safetensors", two_tensors(), WriteOptions{.header_text = h.dump()});
  expect_error([&] { SafetensorsFile f(dir_ / "m.safetensors"); }, {"tensor a.weight", "negative"});

  auto h2 = testutil::header_for(two_tensors());
  h2["b.weight"]["data_offsets"] = {23, 31};  // BF16 at an odd offset
  h2["a.weight"]["shape"] = {6};
  h2["a.weight"]["dtype"] = "BF16";
  h2["a.weight"]["data_offsets"] = {0, 12};
  testutil::write_safetensors(dir_ / "m.safetensors", two_tensors(), WriteOptions{.header_text = h2.dump()});
  expect_error([&] { SafetensorsFile f(dir_ / "m.safetensors"); }, {"tensor b.weight", "not aligned"});
}

TEST_F(SafetensorsTest, StoreOpensSingleFileFolder) {
  testutil::write_safetensors(dir_ / "model.safetensors", two_tensors());
  TensorStore s = TensorStore::open(dir_);
  EXPECT_EQ(s.size(), 2u);
  EXPECT_NE(s.find("a.weight"), nullptr);
  EXPECT_EQ(s.find("nope"), nullptr);
  expect_error([&] { s.get("nope"); }, {"model.safetensors", "tensor nope", "missing"});
}

TEST_F(SafetensorsTest, ReadModeGivesTheSameTensors) {
  testutil::write_safetensors(dir_ / "model.safetensors", two_tensors());
  TensorStore mapped = TensorStore::open(dir_, LoadMode::kMap);
  TensorStore read = TensorStore::open(dir_, LoadMode::kRead);
  for (const char* name : {"a.weight", "b.weight"}) {
    const TensorView& m = mapped.get(name);
    const TensorView& r = read.get(name);
    ASSERT_EQ(m.nbytes, r.nbytes);
    EXPECT_NE(m.data, r.data);  // a private copy, not the mapping
    EXPECT_EQ(std::memcmp(m.data, r.data, m.nbytes), 0) << name;
  }
  // A truncated file is still caught (validation is the same code in both modes).
  const auto size = std::filesystem::file_size(dir_ / "model.safetensors");
  std::filesystem::resize_file(dir_ / "model.safetensors", size - 4);
  expect_error([&] { TensorStore::open(dir_, LoadMode::kRead); }, {"model.safetensors", "b.weight", "out of range"});
}

TEST(LoadModeTest, FromEnvironment) {
  ::setenv("QG_LOAD_MODE", "read", 1);
  EXPECT_EQ(load_mode_from_env_or(LoadMode::kMap), LoadMode::kRead);
  ::setenv("QG_LOAD_MODE", "map", 1);
  EXPECT_EQ(load_mode_from_env_or(LoadMode::kRead), LoadMode::kMap);
  ::setenv("QG_LOAD_MODE", "copy", 1);
  expect_error([&] { load_mode_from_env_or(LoadMode::kMap); }, {"QG_LOAD_MODE=copy", "map or read"});
  ::unsetenv("QG_LOAD_MODE");
  EXPECT_EQ(load_mode_from_env_or(LoadMode::kRead), LoadMode::kRead);
}

TEST_F(SafetensorsTest, StoreRejectsEmptyFolder) {
  expect_error([&] { TensorStore::open(dir_); }, {"no model.safetensors"});
}

TEST_F(SafetensorsTest, StoreOpensShardsAndChecksThem) {
  auto ts = two_tensors();
  testutil::write_safetensors(dir_ / "s1.safetensors", {ts[0]});
  testutil::write_safetensors(dir_ / "s2.safetensors", {ts[1]});
  testutil::write_text(dir_ / "model.safetensors.index.json",
                       R"({"metadata": {}, "weight_map": {"a.weight": "s1.safetensors", "b.weight": "s2.safetensors"}})");
  TensorStore s = TensorStore::open(dir_);
  EXPECT_EQ(s.size(), 2u);
  EXPECT_EQ(s.get("b.weight").file, "s2.safetensors");

  // The index promises a tensor that the shard does not hold.
  testutil::write_text(dir_ / "model.safetensors.index.json",
                       R"({"weight_map": {"a.weight": "s1.safetensors", "b.weight": "s1.safetensors"}})");
  expect_error([&] { TensorStore::open(dir_); }, {"s1.safetensors", "tensor b.weight", "missing from the shard"});

  // A shard named by the index does not exist.
  testutil::write_text(dir_ / "model.safetensors.index.json",
                       R"({"weight_map": {"a.weight": "s1.safetensors", "b.weight": "s3.safetensors"}})");
  expect_error([&] { TensorStore::open(dir_); }, {"model.safetensors.index.json", "shard s3.safetensors", "missing"});

  // A shard name escaping the folder.
  testutil::write_text(dir_ / "model.safetensors.index.json", R"({"weight_map": {"a.weight": "../x.safetensors"}})");
  expect_error([&] { TensorStore::open(dir_); }, {"not a plain file name"});

  testutil::write_text(dir_ / "model.safetensors.index.json", R"({"weight_map": [)");
  expect_error([&] { TensorStore::open(dir_); }, {"model.safetensors.index.json", "not valid JSON"});
}

}  // namespace
}  // namespace qg::weights
