#include "runtime/model/make_model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "runtime/core/error.h"
#include "runtime/model/random_weights.h"
#include "runtime/model/safetensors.h"
#include "tests/runtime/model/raw_safetensors.h"

namespace mlaserve {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

ModelConfig tiny_v2() { return load_model_config(fs::path(MLASERVE_TEST_DATA_DIR) / "tiny-v2"); }

std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<float> floats(const Checkpoint& ck, const std::string& name) {
  const Tensor t = ck.view(name);
  std::vector<float> out(static_cast<size_t>(t.numel()));
  convert_to_float(t.dtype(), t.raw_data(), out.data(), out.size());
  return out;
}

TEST(RandomWeights, ChunkingDoesNotChangeValues) {
  const uint64_t key = random_stream_key(7, "w");
  std::vector<uint16_t> whole(101), parts(101);
  fill_normal_bf16(key, 0, 101, 0, 1, whole.data());
  fill_normal_bf16(key, 0, 3, 0, 1, parts.data());      // ends mid-pair
  fill_normal_bf16(key, 3, 50, 0, 1, parts.data() + 3);  // starts mid-pair
  fill_normal_bf16(key, 53, 48, 0, 1, parts.data() + 53);
  EXPECT_EQ(whole, parts);
  EXPECT_NE(key, random_stream_key(7, "v"));
  EXPECT_NE(key, random_stream_key(8, "w"));
}

TEST(RandomWeights, DrawsStandardNormals) {
  const size_t n = 200000;
  std::vector<uint16_t> v(n);
  fill_normal_bf16(random_stream_key(1, "x"), 0, n, 0, 1, v.data());
  double sum = 0, sq = 0, within1 = 0;
  for (uint16_t b : v) {
    const double x = bf16_to_float(b);
    sum += x;
    sq += x * x;
    within1 += std::fabs(x) < 1;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  EXPECT_NEAR(std::sqrt(sq / n), 1.0, 0.01);
  EXPECT_NEAR(within1 / n, 0.6827, 0.005);  // the normal distribution's one-sigma mass
}

TEST(MakeModel, WritesAValidCheckpoint) {
  TempDir dir;
  const ModelConfig c = tiny_v2();
  const MakeModelResult r = make_random_model(c, 1, dir / "m");
  EXPECT_EQ(r.num_files, 1);
  const Checkpoint ck = Checkpoint::open(dir / "m");
  EXPECT_TRUE(validate_checkpoint(ck, c).ok()) << validate_checkpoint(ck, c).summary();
  EXPECT_EQ(model_config_to_json(load_model_config(dir / "m")), model_config_to_json(c));
  EXPECT_EQ(fs::file_size(dir / "m/model.safetensors") % 2, 0u);
  // Refuses to write over an existing model.
  EXPECT_THROW(make_random_model(c, 1, dir / "m"), Error);
}

TEST(MakeModel, SameSeedSameBytesOtherSeedOtherBytes) {
  TempDir dir;
  const ModelConfig c = tiny_v2();
  make_random_model(c, 42, dir / "a");
  make_random_model(c, 42, dir / "b");
  make_random_model(c, 43, dir / "c");
  const std::string a = file_bytes(dir / "a/model.safetensors");
  EXPECT_EQ(a, file_bytes(dir / "b/model.safetensors"));
  const std::string other = file_bytes(dir / "c/model.safetensors");
  ASSERT_EQ(a.size(), other.size());
  EXPECT_NE(a, other);
  // Not just a few bytes: almost every element differs.
  const Checkpoint ca = Checkpoint::open(dir / "a"), cc = Checkpoint::open(dir / "c");
  const auto x = floats(ca, "model.layers.1.mlp.experts.5.up_proj.weight");
  const auto y = floats(cc, "model.layers.1.mlp.experts.5.up_proj.weight");
  size_t same = 0;
  for (size_t i = 0; i < x.size(); ++i) same += x[i] == y[i];
  EXPECT_LT(same, x.size() / 20);
}

TEST(MakeModel, ShardedOutputHasAnIndexAndTheSameValues) {
  TempDir dir;
  const ModelConfig c = tiny_v2();
  make_random_model(c, 5, dir / "single");
  const MakeModelResult r = make_random_model(c, 5, dir / "sharded", 200000);
  EXPECT_GT(r.num_files, 3);
  std::ifstream in(dir / "sharded/model.safetensors.index.json");
  const auto index = nlohmann::json::parse(in);
  EXPECT_EQ(index.at("metadata").at("total_size").get<uint64_t>(), r.total_bytes);
  std::set<std::string> files;
  for (const auto& f : index.at("weight_map")) files.insert(f.get<std::string>());
  EXPECT_EQ(static_cast<int>(files.size()), r.num_files);
  for (const std::string& f : files) {
    EXPECT_LE(fs::file_size(dir / "sharded" / f), 200000u + 16384u) << f;  // data + header
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, "-of-%05d.safetensors", r.num_files);
    EXPECT_TRUE(f.starts_with("model-") && f.ends_with(suffix)) << f;
  }
  const Checkpoint single = Checkpoint::open(dir / "single");
  const Checkpoint sharded = Checkpoint::open(dir / "sharded");
  EXPECT_TRUE(validate_checkpoint(sharded, c).ok());
  ASSERT_EQ(single.tensor_names(), sharded.tensor_names());
  for (const std::string& name : single.tensor_names())
    EXPECT_EQ(floats(single, name), floats(sharded, name)) << name;
}

// The random model must not be degenerate: every tensor has the spread it was drawn with, and
// the routers spread tokens over all experts with a clear top-k.
TEST(MakeModel, WeightsHaveTheirTargetSpread) {
  TempDir dir;
  const ModelConfig c = load_model_config(fs::path(MLASERVE_SOURCE_DIR) / "configs/models/demo.json");
  make_random_model(c, 1, dir / "m");
  const Checkpoint ck = Checkpoint::open(dir / "m");
  for (const ExpectedTensor& t : checkpoint_layout(c)) {
    const auto v = floats(ck, t.name);
    double sum = 0, sq = 0;
    for (float x : v) sum += x;
    const double mean = sum / v.size();
    for (float x : v) sq += (x - mean) * (x - mean);
    const double std = std::sqrt(sq / v.size());
    const InitSpec want = t.group == TensorGroup::kNorm ? InitSpec{1.0f, 0.02f}
                          : t.group == TensorGroup::kEmbedding ? InitSpec{0.0f, 1.0f}
                          : t.group == TensorGroup::kGate ? InitSpec{0.0f, 3.0f / 16}  // hidden 256
                                                          : InitSpec{0.0f, 1.0f / std::sqrt(float(t.shape[1]))};
    EXPECT_NEAR(std, want.std, want.std * (v.size() < 1000 ? 0.15 : 0.05)) << t.name;
    EXPECT_NEAR(mean, want.mean, 4 * want.std / std::sqrt(double(v.size()))) << t.name;
  }
}

TEST(MakeModel, RouterUsesEveryExpertDecisively) {
  TempDir dir;
  const ModelConfig c = load_model_config(fs::path(MLASERVE_SOURCE_DIR) / "configs/models/demo.json");
  make_random_model(c, 3, dir / "m");
  const Checkpoint ck = Checkpoint::open(dir / "m");
  const auto embed = floats(ck, "model.embed_tokens.weight");
  const auto gate = floats(ck, "model.layers.1.mlp.gate.weight");
  const int64_t h = c.hidden_size, e = c.n_routed_experts, k = c.num_experts_per_tok;
  std::vector<int> uses(e, 0);
  double margin_sum = 0;
  // RMS-normalised token embeddings stand in for the hidden state at the router.
  for (int64_t t = 0; t < 1024; ++t) {
    const float* x = &embed[t * h];
    double ms = 0;
    for (int64_t i = 0; i < h; ++i) ms += x[i] * x[i];
    const double inv = 1 / std::sqrt(ms / h);
    std::vector<std::pair<double, int>> logits(e);
    for (int64_t j = 0; j < e; ++j) {
      double dot = 0;
      for (int64_t i = 0; i < h; ++i) dot += gate[j * h + i] * x[i] * inv;
      logits[j] = {dot, static_cast<int>(j)};
    }
    std::sort(logits.rbegin(), logits.rend());
    for (int64_t j = 0; j < k; ++j) ++uses[logits[j].second];
    margin_sum += logits[k - 1].first - logits[k].first;
  }
  const double fair = 1024.0 * k / e;
  for (int64_t j = 0; j < e; ++j) {
    EXPECT_GT(uses[j], fair / 3) << "expert " << j;
    EXPECT_LT(uses[j], fair * 3) << "expert " << j;
  }
  // Mean gap between the k-th and (k+1)-th logit, far above bf16 rounding of logits near 3.
  EXPECT_GT(margin_sum / 1024, 0.1);
}

}  // namespace
}  // namespace mlaserve
