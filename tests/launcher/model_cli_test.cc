// make-model and inspect, through the real binary.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "runtime/model/checkpoint_layout.h"
#include "runtime/model/safetensors.h"
#include "tests/launcher/run_cli.h"
#include "tests/runtime/model/raw_safetensors.h"

namespace mlaserve {
namespace {

namespace fs = std::filesystem;
using testing::run_cli;
using testing::TempDir;

const std::string kTinyV2 = std::string(MLASERVE_TEST_DATA_DIR) + "/tiny-v2/config.json";

std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(MakeModelCli, WritesAModelThatInspectAccepts) {
  TempDir dir;
  const auto made = run_cli({"make-model", "--config", kTinyV2, "--seed", "9", "--out", (dir / "m").string()});
  ASSERT_EQ(made.exit_code, 0) << made.output;
  const auto again = run_cli({"make-model", "--config", kTinyV2, "--seed", "9", "--out", (dir / "n").string()});
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(file_bytes(dir / "m/model.safetensors"), file_bytes(dir / "n/model.safetensors"));

  const auto inspected = run_cli({"inspect", "--model", (dir / "m").string()});
  EXPECT_EQ(inspected.exit_code, 0) << inspected.output;
  EXPECT_NE(inspected.output.find("ok (names, shapes and dtypes match"), std::string::npos) << inspected.output;
}

TEST(MakeModelCli, ShardsWithAnIndex) {
  TempDir dir;
  const auto made = run_cli({"make-model", "--config", kTinyV2, "--seed", "1", "--out",
                             (dir / "m").string(), "--shard-size", "300000"});
  ASSERT_EQ(made.exit_code, 0) << made.output;
  EXPECT_TRUE(fs::exists(dir / "m/model.safetensors.index.json"));
  EXPECT_FALSE(fs::exists(dir / "m/model.safetensors"));
  EXPECT_TRUE(validate_checkpoint(Checkpoint::open(dir / "m"), load_model_config(dir / "m")).ok());
}

TEST(MakeModelCli, BadInputExitsTwoNamingTheProblem) {
  TempDir dir;
  auto j = nlohmann::json::parse(file_bytes(kTinyV2));
  j["n_group"] = 3;
  std::ofstream(dir / "bad.json") << j.dump();
  const auto bad = run_cli({"make-model", "--config", (dir / "bad.json").string(), "--seed", "1",
                            "--out", (dir / "m").string()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("bad.json: field 'n_group' (3) must divide n_routed_experts (16)"),
            std::string::npos) << bad.output;
  EXPECT_FALSE(fs::exists(dir / "m/config.json"));

  const auto missing = run_cli({"make-model", "--config", (dir / "none.json").string(), "--seed", "1",
                                "--out", (dir / "m").string()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.output.find("none.json"), std::string::npos) << missing.output;
  EXPECT_EQ(run_cli({"make-model", "--config", kTinyV2}).exit_code, 2);  // no --seed / --out
}

// Independently known DeepSeek-V2 figures: 236B parameters, 21B activated, and a latent cache of
// (512 + 64) values · 60 layers · 2 bytes = 69,120 bytes per token.
TEST(InspectCli, DeepSeekV2JsonFigures) {
  const auto r = run_cli({"inspect", "--json", "--model",
                          std::string(MLASERVE_SOURCE_DIR) + "/configs/models/deepseek-v2-236b.json"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_NEAR(j["stats"]["total_params"].get<double>() / 1e9, 236, 236 * 0.005);
  EXPECT_NEAR(j["stats"]["activated_params"].get<double>() / 1e9, 21, 21 * 0.03);
  EXPECT_EQ(j["stats"]["kv_cache_bytes_per_token"]["latent"]["bf16"], 69120);
  EXPECT_FALSE(j.contains("checkpoint"));  // a config alone has none
}

TEST(InspectCli, InvalidCheckpointExitsTwoAndNamesTheTensor) {
  TempDir dir;
  const ModelConfig c = load_model_config(kTinyV2);
  std::vector<NamedTensor> tensors;
  for (const ExpectedTensor& t : checkpoint_layout(c))
    if (t.name != "model.layers.2.self_attn.kv_b_proj.weight")
      tensors.push_back({t.name, Tensor::zeros(t.shape, DType::kBF16)});
  write_safetensors(dir / "model.safetensors", tensors);
  fs::copy_file(kTinyV2, dir / "config.json");

  const auto r = run_cli({"inspect", "--model", dir.path().string()});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("INVALID"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("missing tensor model.layers.2.self_attn.kv_b_proj.weight"), std::string::npos) << r.output;

  const auto js = run_cli({"inspect", "--json", "--model", dir.path().string()});
  EXPECT_EQ(js.exit_code, 2);
  const auto j = nlohmann::json::parse(js.output);
  EXPECT_FALSE(j["checkpoint"]["valid"].get<bool>());
  EXPECT_EQ(j["checkpoint"]["missing"].size(), 1u);
}

}  // namespace
}  // namespace mlaserve
