#include "runtime/model/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <fstream>

#include "nlohmann/json.hpp"
#include "runtime/core/error.h"
#include "tests/runtime/model/raw_safetensors.h"

namespace mlaserve {
namespace {

using ::testing::HasSubstr;
using testing::header_json;
using testing::RawEntry;
using testing::safetensors_bytes;
using testing::TempDir;
using testing::write_bytes;

// Byte i of a test data section; every tensor's expected content is read off this formula.
char pattern(size_t i) { return static_cast<char>(i * 7 + 1); }
std::string pattern_bytes(size_t n, size_t from = 0) {
  std::string out;
  for (size_t i = from; i < from + n; ++i) out.push_back(pattern(i));
  return out;
}

// JSON allows trailing spaces; padding to 8 keeps the data section aligned, as real writers do.
std::string pad8(std::string header) {
  while ((header.size() + 8) % 8 != 0) header.push_back(' ');
  return header;
}

std::string tensor_bytes(const Tensor& t) {
  EXPECT_TRUE(t.is_contiguous());
  return std::string(static_cast<const char*>(t.raw_data()), t.nbytes());
}

template <typename Fn>
void expect_error(Fn&& fn, ErrorCode code, const std::vector<std::string>& fragments) {
  try {
    fn();
    ADD_FAILURE() << "expected an error with code " << error_code_name(code);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    for (const std::string& f : fragments) EXPECT_THAT(e.what(), HasSubstr(f));
  }
}

// a: bf16 [4, 3] at [0, 24); b: f32 [2, 5] at [24, 64); c: f16 [6] at [64, 76).
const std::vector<RawEntry> kThree = {
    {"a", "BF16", "[4, 3]", 0, 24}, {"b", "F32", "[2, 5]", 24, 64}, {"c", "F16", "[6]", 64, 76}};

TEST(Safetensors, SingleFileViewsRowsAndColumns) {
  TempDir dir;
  const auto path = dir / "weights.safetensors";
  write_bytes(path, safetensors_bytes(pad8(header_json(kThree, R"({"format":"pt","k":"v"})")),
                                      pattern_bytes(76)));
  const auto file = SafetensorsFile::open(path);
  EXPECT_EQ(file->metadata().at("format"), "pt");
  EXPECT_EQ(file->metadata().at("k"), "v");

  const Checkpoint ckpt = Checkpoint::open(path);
  EXPECT_EQ(ckpt.tensor_names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(ckpt.contains("b"));
  EXPECT_FALSE(ckpt.contains("d"));
  EXPECT_EQ(ckpt.info("b").dtype, DType::kF32);
  EXPECT_EQ(ckpt.info("b").shape, (Shape{2, 5}));
  EXPECT_EQ(ckpt.info("c").begin, 64u);
  EXPECT_EQ(ckpt.bytes_read(), 0u);

  const Tensor a = ckpt.view("a");
  EXPECT_EQ(a.shape(), (Shape{4, 3}));
  EXPECT_EQ(a.dtype(), DType::kBF16);
  EXPECT_EQ(tensor_bytes(a), pattern_bytes(24));
  EXPECT_EQ(ckpt.view("a").raw_data(), a.raw_data()) << "views must share the mapping";
  EXPECT_EQ(tensor_bytes(ckpt.view("b")), pattern_bytes(40, 24));
  EXPECT_EQ(tensor_bytes(ckpt.view("c")), pattern_bytes(12, 64));
  EXPECT_EQ(ckpt.bytes_read(), 24u + 24u + 40u + 12u);

  // Rows 1..3 of a: 2 rows of 3 bf16 = bytes [6, 18).
  const Tensor rows = ckpt.view_rows("a", 1, 3);
  EXPECT_EQ(rows.shape(), (Shape{2, 3}));
  EXPECT_EQ(tensor_bytes(rows), pattern_bytes(12, 6));
  EXPECT_EQ(ckpt.view_rows("a", 2, 2).numel(), 0);

  // Columns 1..4 of b: per row of 20 bytes, bytes [4, 16).
  const uint64_t before = ckpt.bytes_read();
  const Tensor cols = ckpt.read_columns("b", 1, 4);
  EXPECT_EQ(cols.shape(), (Shape{2, 3}));
  EXPECT_EQ(tensor_bytes(cols), pattern_bytes(12, 24 + 4) + pattern_bytes(12, 24 + 20 + 4));
  EXPECT_EQ(ckpt.bytes_read() - before, 24u) << "only the copied columns count";
  EXPECT_EQ(tensor_bytes(ckpt.read_columns("c", 0, 6)), pattern_bytes(12, 64));
}

TEST(Safetensors, ViewsOutliveCheckpointAndFile) {
  TempDir dir;
  const auto path = dir / "model.safetensors";
  write_bytes(path, safetensors_bytes(pad8(header_json(kThree)), pattern_bytes(76)));
  Tensor b;
  {
    const Checkpoint ckpt = Checkpoint::open(dir.path());  // a directory with model.safetensors
    b = ckpt.view_rows("b", 1, 2);
  }
  std::filesystem::remove(path);
  EXPECT_EQ(tensor_bytes(b), pattern_bytes(20, 44));
}

TEST(Safetensors, ScalarAndEmptyTensors) {
  TempDir dir;
  const auto path = dir / "x.safetensors";
  // An empty tensor may sit at any offset, even inside another tensor's bytes.
  write_bytes(path,
              safetensors_bytes(
                  pad8(header_json({{"s", "F32", "[]", 0, 4}, {"e", "BF16", "[0, 5]", 2, 2}})),
                  pattern_bytes(4)));
  const Checkpoint ckpt = Checkpoint::open(path);
  EXPECT_EQ(ckpt.view("s").shape(), Shape{});
  EXPECT_EQ(tensor_bytes(ckpt.view("s")), pattern_bytes(4));
  EXPECT_EQ(ckpt.view("e").shape(), (Shape{0, 5}));
  EXPECT_EQ(ckpt.read_columns("e", 1, 3).shape(), (Shape{0, 2}));
  expect_error([&] { ckpt.view_rows("s", 0, 1); }, ErrorCode::kInvalidArgument, {"s", "scalar"});
}

TEST(Safetensors, MisalignedDataIsCopiedNotViewed) {
  TempDir dir;
  const auto path = dir / "odd.safetensors";
  std::string header = header_json({{"h", "F16", "[3]", 0, 6}});
  if ((header.size() + 8) % 2 == 0) header.push_back(' ');  // data section starts at an odd byte
  write_bytes(path, safetensors_bytes(header, pattern_bytes(6)));
  const Checkpoint ckpt = Checkpoint::open(path);
  const Tensor h = ckpt.view("h");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(h.raw_data()) % 2, 0u);
  EXPECT_EQ(tensor_bytes(h), pattern_bytes(6));
}

TEST(Safetensors, RangeAndNameErrorsNameTheTensor) {
  TempDir dir;
  const auto path = dir / "r.safetensors";
  write_bytes(path, safetensors_bytes(pad8(header_json(kThree)), pattern_bytes(76)));
  const Checkpoint ckpt = Checkpoint::open(path);
  expect_error([&] { ckpt.view("missing.weight"); }, ErrorCode::kNotFound,
               {"missing.weight", path.string()});
  expect_error([&] { ckpt.view_rows("a", 3, 5); }, ErrorCode::kOutOfRange, {"a", "[3, 5)"});
  expect_error([&] { ckpt.view_rows("a", -1, 2); }, ErrorCode::kOutOfRange, {"a"});
  expect_error([&] { ckpt.view_rows("a", 2, 1); }, ErrorCode::kOutOfRange, {"a"});
  expect_error([&] { ckpt.read_columns("b", 4, 6); }, ErrorCode::kOutOfRange, {"b", "[4, 6)"});
  expect_error([&] { ckpt.read_columns("missing.weight", 0, 1); }, ErrorCode::kNotFound,
               {"missing.weight"});
}

TEST(Safetensors, MissingFilesAreNotFound) {
  TempDir dir;
  expect_error([&] { SafetensorsFile::open(dir / "nope.safetensors"); }, ErrorCode::kNotFound,
               {"nope.safetensors"});
  expect_error([&] { Checkpoint::open(dir / "nope"); }, ErrorCode::kNotFound, {"nope"});
  expect_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::kNotFound,
               {dir.path().string(), "model.safetensors"});
}

// ---- Malformed single files: every case names the file, and the tensor where there is one.

struct BadFile {
  std::string label;
  std::string bytes;
  ErrorCode code;
  std::vector<std::string> fragments;  // besides the file path
};

std::string with_header(const std::string& header, size_t data_bytes = 16) {
  return safetensors_bytes(header, pattern_bytes(data_bytes));
}

std::string entry(const std::string& body) { return R"({"model.bad.weight":)" + body + "}"; }

std::vector<BadFile> bad_files() {
  const std::string t = "model.bad.weight";
  return {
      {"empty", "", ErrorCode::kDataLoss, {"truncated"}},
      {"short_length", std::string("\x05\0\0", 3), ErrorCode::kDataLoss, {"truncated"}},
      {"length_past_end", safetensors_bytes("{}", "", 1000), ErrorCode::kDataLoss, {"1000"}},
      {"length_huge", safetensors_bytes("{}", "", ~0ull), ErrorCode::kDataLoss, {"header length"}},
      {"invalid_json",
       with_header(R"({"model.bad.weight":{"dtype":)"),
       ErrorCode::kDataLoss,
       {"invalid JSON"}},
      {"not_object", with_header("[1, 2]"), ErrorCode::kDataLoss, {"not a JSON object"}},
      {"entry_not_object", with_header(entry("5")), ErrorCode::kDataLoss, {t}},
      {"missing_dtype",
       with_header(entry(R"({"shape":[2],"data_offsets":[0,4]})")),
       ErrorCode::kDataLoss,
       {t, "dtype"}},
      {"dtype_not_string",
       with_header(entry(R"({"dtype":16,"shape":[2],"data_offsets":[0,4]})")),
       ErrorCode::kDataLoss,
       {t, "dtype"}},
      {"missing_shape",
       with_header(entry(R"({"dtype":"BF16","data_offsets":[0,4]})")),
       ErrorCode::kDataLoss,
       {t, "shape"}},
      {"shape_not_array",
       with_header(entry(R"({"dtype":"BF16","shape":2,"data_offsets":[0,4]})")),
       ErrorCode::kDataLoss,
       {t, "shape"}},
      {"missing_offsets",
       with_header(entry(R"({"dtype":"BF16","shape":[2]})")),
       ErrorCode::kDataLoss,
       {t, "data_offsets"}},
      {"offsets_one",
       with_header(entry(R"({"dtype":"BF16","shape":[2],"data_offsets":[4]})")),
       ErrorCode::kDataLoss,
       {t, "data_offsets"}},
      {"offsets_three",
       with_header(entry(R"({"dtype":"BF16","shape":[2],"data_offsets":[0,4,4]})")),
       ErrorCode::kDataLoss,
       {t, "data_offsets"}},
      {"negative_dim",
       with_header(entry(R"({"dtype":"BF16","shape":[-2],"data_offsets":[0,4]})")),
       ErrorCode::kDataLoss,
       {t, "[-2]"}},
      {"float_dim",
       with_header(entry(R"({"dtype":"BF16","shape":[2.0],"data_offsets":[0,4]})")),
       ErrorCode::kDataLoss,
       {t, "shape"}},
      {"dim_past_int64",
       with_header(
           entry(R"({"dtype":"BF16","shape":[18446744073709551615],"data_offsets":[0,4]})")),
       ErrorCode::kDataLoss,
       {t, "shape"}},
      // 2 bytes x 2^32 x 2^32 wraps to 0 in 64 bits; unchecked, it would match offsets [0, 0].
      {"size_overflow",
       with_header(
           entry(R"({"dtype":"BF16","shape":[4294967296,4294967296],"data_offsets":[0,0]})")),
       ErrorCode::kDataLoss,
       {t, "overflow"}},
      {"negative_offset",
       with_header(entry(R"({"dtype":"BF16","shape":[2],"data_offsets":[-4,0]})")),
       ErrorCode::kDataLoss,
       {t, "data_offsets"}},
      {"begin_after_end",
       with_header(entry(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})")),
       ErrorCode::kDataLoss,
       {t, "[8, 0]"}},
      {"end_past_data",
       with_header(entry(R"({"dtype":"F32","shape":[4],"data_offsets":[8,24]})")),
       ErrorCode::kDataLoss,
       {t, "16 bytes"}},
      {"size_mismatch",
       with_header(entry(R"({"dtype":"F32","shape":[3],"data_offsets":[0,16]})")),
       ErrorCode::kDataLoss,
       {t, "needs 12 bytes", "16"}},
      {"overlap",
       with_header(header_json(
           {{"model.first", "F32", "[2]", 0, 8}, {"model.second", "F32", "[2]", 4, 12}})),
       ErrorCode::kDataLoss,
       {"model.first", "model.second", "overlaps"}},
      {"duplicate_name",
       with_header(R"({"model.bad.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                   R"("model.bad.weight":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})"),
       ErrorCode::kDataLoss,
       {t, "duplicate"}},
      {"duplicate_field",
       with_header(entry(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4],"shape":[2]})")),
       ErrorCode::kDataLoss,
       {"duplicate", "shape"}},
      {"metadata_not_object",
       with_header(R"({"__metadata__":[1]})"),
       ErrorCode::kDataLoss,
       {"__metadata__"}},
      {"metadata_value",
       with_header(R"({"__metadata__":{"format":1}})"),
       ErrorCode::kDataLoss,
       {"__metadata__", "format"}},
      {"dtype_f64",
       with_header(entry(R"({"dtype":"F64","shape":[2],"data_offsets":[0,16]})")),
       ErrorCode::kInvalidArgument,
       {t, "\"F64\""}},
      {"dtype_i8",
       with_header(entry(R"({"dtype":"I8","shape":[2],"data_offsets":[0,2]})")),
       ErrorCode::kInvalidArgument,
       {t, "\"I8\""}},
      {"dtype_f8",
       with_header(entry(R"({"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]})")),
       ErrorCode::kInvalidArgument,
       {t, "\"F8_E4M3\""}},
      {"dtype_unknown",
       with_header(entry(R"({"dtype":"bf16","shape":[2],"data_offsets":[0,4]})")),
       ErrorCode::kInvalidArgument,
       {t, "\"bf16\""}},
  };
}

void PrintTo(const BadFile& bad, std::ostream* out) { *out << bad.label; }

class BadSafetensorsFile : public ::testing::TestWithParam<BadFile> {};

TEST_P(BadSafetensorsFile, IsRejectedWithCodeFileAndTensor) {
  const BadFile& bad = GetParam();
  TempDir dir;
  // A neutral name: the label must not satisfy the message fragments through the path.
  const auto path = dir / "shard.safetensors";
  write_bytes(path, bad.bytes);
  std::vector<std::string> fragments = bad.fragments;
  fragments.push_back(path.string());
  expect_error([&] { SafetensorsFile::open(path); }, bad.code, fragments);
  expect_error([&] { Checkpoint::open(path); }, bad.code, fragments);
}

INSTANTIATE_TEST_SUITE_P(Cases, BadSafetensorsFile, ::testing::ValuesIn(bad_files()),
                         [](const auto& info) { return info.param.label; });

TEST(Safetensors, DirectoryAndFifoAreNotFiles) {
  TempDir dir;
  std::filesystem::create_directories(dir / "sub");
  expect_error([&] { SafetensorsFile::open(dir / "sub"); }, ErrorCode::kInvalidArgument, {"sub"});
  // Opening a FIFO without a writer would block forever unless the reader refuses it up front.
  ASSERT_EQ(::mkfifo((dir / "pipe.safetensors").c_str(), 0600), 0);
  expect_error([&] { SafetensorsFile::open(dir / "pipe.safetensors"); },
               ErrorCode::kInvalidArgument, {"pipe.safetensors", "not a regular file"});
}

// ---- Sharded checkpoints.

void write_index(const std::filesystem::path& dir, const std::string& weight_map) {
  write_bytes(dir / "model.safetensors.index.json",
              R"({"metadata":{"total_size":100},"weight_map":)" + weight_map + "}");
}

// shard 1: a, b; shard 2: c, d (each F32 [2, 2] = 16 bytes).
void write_two_shards(const TempDir& dir) {
  write_bytes(
      dir / "s-1.safetensors",
      safetensors_bytes(
          pad8(header_json({{"a", "F32", "[2, 2]", 0, 16}, {"b", "F32", "[2, 2]", 16, 32}})),
          pattern_bytes(32)));
  write_bytes(
      dir / "s-2.safetensors",
      safetensors_bytes(
          pad8(header_json({{"c", "F32", "[2, 2]", 0, 16}, {"d", "F32", "[2, 2]", 16, 32}})),
          pattern_bytes(32, 100)));
}

TEST(Checkpoint, ShardedWithIndex) {
  TempDir dir;
  write_two_shards(dir);
  write_index(dir.path(), R"({"a":"s-1.safetensors","b":"s-1.safetensors","c":"s-2.safetensors",)"
                          R"("d":"s-2.safetensors"})");
  const Checkpoint ckpt = Checkpoint::open(dir.path());
  EXPECT_EQ(ckpt.tensor_names(), (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(ckpt.info("d").file, dir / "s-2.safetensors");
  EXPECT_EQ(tensor_bytes(ckpt.view("b")), pattern_bytes(16, 16));
  EXPECT_EQ(tensor_bytes(ckpt.view("c")), pattern_bytes(16, 100));
  EXPECT_EQ(tensor_bytes(ckpt.view_rows("d", 1, 2)), pattern_bytes(8, 124));
  EXPECT_EQ(tensor_bytes(ckpt.read_columns("d", 0, 1)),
            pattern_bytes(4, 116) + pattern_bytes(4, 124));
}

TEST(Checkpoint, IndexNamingMissingShard) {
  TempDir dir;
  write_two_shards(dir);
  write_index(dir.path(), R"({"a":"s-1.safetensors","b":"s-1.safetensors","c":"s-3.safetensors"})");
  expect_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::kNotFound,
               {"model.safetensors.index.json", "s-3.safetensors"});
}

TEST(Checkpoint, IndexListsTensorTheShardLacks) {
  TempDir dir;
  write_two_shards(dir);
  write_index(dir.path(), R"({"a":"s-1.safetensors","b":"s-1.safetensors","c":"s-2.safetensors",)"
                          R"("d":"s-2.safetensors","e":"s-2.safetensors"})");
  expect_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::kDataLoss,
               {"model.safetensors.index.json", "s-2.safetensors", "tensor e"});
}

TEST(Checkpoint, ShardHoldsTensorTheIndexLacks) {
  TempDir dir;
  write_two_shards(dir);
  write_index(dir.path(), R"({"a":"s-1.safetensors","c":"s-2.safetensors","d":"s-2.safetensors"})");
  expect_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::kDataLoss,
               {"model.safetensors.index.json", "s-1.safetensors", "tensor b"});
}

TEST(Checkpoint, TensorInTwoShards) {
  TempDir dir;
  write_two_shards(dir);
  write_bytes(dir / "s-3.safetensors",
              safetensors_bytes(pad8(header_json({{"a", "F32", "[1]", 0, 4}})), pattern_bytes(4)));
  write_index(dir.path(), R"({"a":"s-1.safetensors","b":"s-1.safetensors","c":"s-2.safetensors",)"
                          R"("d":"s-2.safetensors","x":"s-3.safetensors"})");
  expect_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::kDataLoss,
               {"s-3.safetensors", "tensor a", "s-1.safetensors"});
}

TEST(Checkpoint, MalformedIndex) {
  TempDir dir;
  write_two_shards(dir);
  const std::string index = (dir / "model.safetensors.index.json").string();
  write_index(dir.path(), R"({"a":"s-1.safetensors",)");
  expect_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::kDataLoss, {index, "JSON"});
  write_bytes(dir / "model.safetensors.index.json", R"({"metadata":{}})");
  expect_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::kDataLoss, {index, "weight_map"});
  write_index(dir.path(), R"({"a":7})");
  expect_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::kDataLoss, {index, "tensor a"});
  write_index(dir.path(), R"({"a":"../s-1.safetensors"})");
  expect_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::kDataLoss,
               {index, "tensor a", "../s-1.safetensors"});
  write_index(dir.path(), R"({"a":"s-1.safetensors","a":"s-2.safetensors"})");
  expect_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::kDataLoss,
               {index, "duplicate", "\"a\""});
}

TEST(Checkpoint, CorruptShardNamesTheShard) {
  TempDir dir;
  write_two_shards(dir);
  write_bytes(dir / "s-2.safetensors", "\x40\0\0");
  write_index(dir.path(), R"({"a":"s-1.safetensors","b":"s-1.safetensors","c":"s-2.safetensors"})");
  expect_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::kDataLoss,
               {(dir / "s-2.safetensors").string(), "truncated"});
}

// ---- The reference checkpoints: shapes follow from config.json, values from debug.json (which
// DeepSeek's PyTorch code wrote: the embedding of each prompt token).

class ReferenceCheckpoint : public ::testing::TestWithParam<std::string> {};

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

TEST_P(ReferenceCheckpoint, ShapesMatchConfig) {
  const std::filesystem::path dir = std::filesystem::path(MLASERVE_TEST_DATA_DIR) / GetParam();
  const nlohmann::json cfg = read_json(dir / "config.json");
  const Checkpoint ckpt = Checkpoint::open(dir);
  const int64_t vocab = cfg["vocab_size"], hidden = cfg["hidden_size"];
  const int64_t heads = cfg["num_attention_heads"], layers = cfg["num_hidden_layers"];
  const int64_t nope = cfg["qk_nope_head_dim"], rope = cfg["qk_rope_head_dim"];
  const int64_t v_dim = cfg["v_head_dim"], kv_lora = cfg["kv_lora_rank"];
  const int64_t experts = cfg["n_routed_experts"], moe_inter = cfg["moe_intermediate_size"];
  const int64_t shared = cfg["n_shared_experts"], first_dense = cfg["first_k_dense_replace"];

  std::map<std::string, Shape> expected = {{"model.embed_tokens.weight", {vocab, hidden}},
                                           {"lm_head.weight", {vocab, hidden}},
                                           {"model.norm.weight", {hidden}}};
  for (int64_t l = 0; l < layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    expected[p + "input_layernorm.weight"] = {hidden};
    expected[p + "post_attention_layernorm.weight"] = {hidden};
    if (cfg["q_lora_rank"].is_null()) {
      expected[p + "self_attn.q_proj.weight"] = {heads * (nope + rope), hidden};
    } else {
      const int64_t q_lora = cfg["q_lora_rank"];
      expected[p + "self_attn.q_a_proj.weight"] = {q_lora, hidden};
      expected[p + "self_attn.q_a_layernorm.weight"] = {q_lora};
      expected[p + "self_attn.q_b_proj.weight"] = {heads * (nope + rope), q_lora};
    }
    expected[p + "self_attn.kv_a_proj_with_mqa.weight"] = {kv_lora + rope, hidden};
    expected[p + "self_attn.kv_a_layernorm.weight"] = {kv_lora};
    expected[p + "self_attn.kv_b_proj.weight"] = {heads * (nope + v_dim), kv_lora};
    expected[p + "self_attn.o_proj.weight"] = {hidden, heads * v_dim};
    auto mlp = [&](const std::string& prefix, int64_t width) {
      expected[prefix + "gate_proj.weight"] = {width, hidden};
      expected[prefix + "up_proj.weight"] = {width, hidden};
      expected[prefix + "down_proj.weight"] = {hidden, width};
    };
    if (l < first_dense) {
      mlp(p + "mlp.", cfg["intermediate_size"].get<int64_t>());
      continue;
    }
    expected[p + "mlp.gate.weight"] = {experts, hidden};
    for (int64_t e = 0; e < experts; ++e)
      mlp(p + "mlp.experts." + std::to_string(e) + ".", moe_inter);
    mlp(p + "mlp.shared_experts.", shared * moe_inter);
  }

  std::vector<std::string> expected_names;
  for (const auto& [name, shape] : expected) expected_names.push_back(name);
  EXPECT_EQ(ckpt.tensor_names(), expected_names);
  for (const auto& [name, shape] : expected) {
    if (!ckpt.contains(name)) continue;
    EXPECT_EQ(ckpt.info(name).shape, shape) << name;
    EXPECT_EQ(ckpt.info(name).dtype, DType::kBF16) << name;
  }
}

TEST_P(ReferenceCheckpoint, EmbeddingRowsMatchPyTorch) {
  const std::filesystem::path dir = std::filesystem::path(MLASERVE_TEST_DATA_DIR) / GetParam();
  const nlohmann::json debug = read_json(dir / "debug.json");
  const Checkpoint ckpt = Checkpoint::open(dir / "model.safetensors");
  const int64_t hidden = ckpt.info("model.embed_tokens.weight").shape[1];
  for (size_t i = 0; i < 5; ++i) {
    const int64_t token = debug["prompt"][i];
    const Tensor row = ckpt.view_rows("model.embed_tokens.weight", token, token + 1);
    ASSERT_EQ(row.shape(), (Shape{1, hidden}));
    const uint16_t* bits = row.data<uint16_t>();
    for (int64_t j = 0; j < hidden; ++j)
      ASSERT_EQ(bf16_to_float(bits[j]), debug["embed"][i][j].get<float>()) << "token " << token;
  }
  // The second half of the hidden columns, for every row, equals the matching slice of a view.
  const Tensor half = ckpt.read_columns("model.embed_tokens.weight", hidden / 2, hidden);
  const Tensor full = ckpt.view("model.embed_tokens.weight");
  const int64_t rows = full.dim(0);
  for (int64_t r = 0; r < rows; r += 17)
    ASSERT_EQ(
        0, std::memcmp(half.data<uint16_t>() + r * (hidden - hidden / 2),
                       full.data<uint16_t>() + r * hidden + hidden / 2, (hidden - hidden / 2) * 2));
}

INSTANTIATE_TEST_SUITE_P(Data, ReferenceCheckpoint, ::testing::Values("tiny-v2", "tiny-lite"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace mlaserve
