#include "runtime/model/safetensors_writer.h"

#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "runtime/core/error.h"
#include "runtime/model/safetensors.h"
#include "tests/runtime/model/raw_safetensors.h"

namespace mlaserve {
namespace {

using testing::TempDir;

std::string file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(SafetensorsWriter, HeaderIsAlignedAndDataFollowsInOrder) {
  TempDir dir;
  const Tensor a = Tensor::from_floats({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = Tensor::empty({3}, DType::kBF16);
  for (int i = 0; i < 3; ++i) b.data<uint16_t>()[i] = float_to_bf16(-0.5f * i);
  write_safetensors(dir / "x.safetensors", {{"z.first", a}, {"a.second", b}}, {{"format", "pt"}});

  const std::string bytes = file_bytes(dir / "x.safetensors");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ((8 + n) % 8, 0u);
  ASSERT_EQ(bytes.size(), 8 + n + 24 + 6);
  const auto header = nlohmann::json::parse(bytes.substr(8, n));
  EXPECT_EQ(header.at("__metadata__").at("format"), "pt");
  EXPECT_EQ(header.at("z.first").at("dtype"), "F32");
  EXPECT_EQ(header.at("z.first").at("data_offsets"), nlohmann::json({0, 24}));
  EXPECT_EQ(header.at("a.second").at("dtype"), "BF16");
  EXPECT_EQ(header.at("a.second").at("shape"), nlohmann::json({3}));
  EXPECT_EQ(header.at("a.second").at("data_offsets"), nlohmann::json({24, 30}));
  float third;
  std::memcpy(&third, bytes.data() + 8 + n + 8, 4);
  EXPECT_EQ(third, 3.0f);
  EXPECT_FALSE(std::filesystem::exists(dir / "x.safetensors.tmp"));
}

TEST(SafetensorsWriter, RoundTripsThroughTheReader) {
  TempDir dir;
  const Tensor a = Tensor::from_floats({2, 2}, {1.5f, -2, 0, 7});
  Tensor b = Tensor::empty({1, 5}, DType::kF16);
  for (int i = 0; i < 5; ++i) b.data<uint16_t>()[i] = float_to_f16(0.25f * i);
  const Tensor empty = Tensor::empty({0, 4}, DType::kF32);
  write_safetensors(dir / "m.safetensors", {{"a", a}, {"b", b}, {"e", empty}});

  const Checkpoint ck = Checkpoint::open(dir / "m.safetensors");
  EXPECT_EQ(ck.tensor_names(), (std::vector<std::string>{"a", "b", "e"}));
  const Tensor ra = ck.view("a");
  EXPECT_EQ(ra.shape(), (Shape{2, 2}));
  EXPECT_EQ(ra.data<float>()[1], -2.0f);
  EXPECT_EQ(ra.data<float>()[3], 7.0f);
  const Tensor rb = ck.view("b");
  EXPECT_EQ(rb.dtype(), DType::kF16);
  EXPECT_EQ(f16_to_float(rb.data<uint16_t>()[4]), 1.0f);
  EXPECT_EQ(ck.info("e").shape, (Shape{0, 4}));
}

TEST(SafetensorsWriter, StreamsInChunksAndChecksTheByteCount) {
  TempDir dir;
  const std::vector<TensorEntry> entries = {{"w", DType::kF32, {4}}};
  {
    SafetensorsStreamWriter w(dir / "short.safetensors", entries);
    const float half[2] = {1, 2};
    w.append(half, sizeof half);
    EXPECT_THROW(w.finish(), Error);  // 8 of 16 bytes
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "short.safetensors"));
  EXPECT_FALSE(std::filesystem::exists(dir / "short.safetensors.tmp"));
  {
    SafetensorsStreamWriter w(dir / "abandoned.safetensors", entries);
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));

  SafetensorsStreamWriter w(dir / "ok.safetensors", entries);
  const float v[5] = {1, 2, 3, 4, 5};
  w.append(v, 4);
  w.append(v + 1, 12);
  EXPECT_THROW(w.append(v, 4), Error);  // beyond the declared 16 bytes
  w.finish();
  const Tensor t = Checkpoint::open(dir / "ok.safetensors").view("w");
  EXPECT_EQ(t.data<float>()[3], 4.0f);
}

TEST(SafetensorsWriter, RejectsBadInputNamingIt) {
  TempDir dir;
  const Tensor a = Tensor::from_floats({1}, {1});
  try {
    write_safetensors(dir / "d.safetensors", {{"dup", a}, {"dup", a}});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("'dup' given twice"), std::string::npos) << e.what();
  }
  const Tensor strided = Tensor::from_floats({2, 2}, {1, 2, 3, 4}).slice(1, 0, 1);
  EXPECT_THROW(write_safetensors(dir / "s.safetensors", {{"s", strided}}), Error);
  EXPECT_THROW(write_safetensors(dir / "no/such/dir/x.safetensors", {{"a", a}}), Error);
}

}  // namespace
}  // namespace mlaserve
