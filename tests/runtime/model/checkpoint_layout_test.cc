#include "runtime/model/checkpoint_layout.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <filesystem>
#include <fstream>
#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "runtime/core/error.h"
#include "runtime/model/safetensors.h"
#include "tests/runtime/model/raw_safetensors.h"

namespace mlaserve {
namespace {

namespace fs = std::filesystem;

// Names and shapes in a reference checkpoint, read straight from its header bytes.
std::map<std::string, Shape> header_shapes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  uint8_t le[8];
  in.read(reinterpret_cast<char*>(le), 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | le[i];
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  std::map<std::string, Shape> out;
  const nlohmann::json header = nlohmann::json::parse(text);
  for (auto it = header.begin(); it != header.end(); ++it)
    if (it.key() != "__metadata__") out[it.key()] = it.value().at("shape").get<Shape>();
  return out;
}

std::map<std::string, Shape> layout_shapes(const ModelConfig& c) {
  std::map<std::string, Shape> out;
  for (const ExpectedTensor& t : checkpoint_layout(c)) {
    EXPECT_TRUE(out.emplace(t.name, t.shape).second) << "duplicate " << t.name;
  }
  return out;
}

TEST(CheckpointLayout, MatchesReferenceCheckpoints) {
  for (const char* model : {"tiny-v2", "tiny-lite"}) {
    const fs::path dir = fs::path(MLASERVE_TEST_DATA_DIR) / model;
    const auto expected = header_shapes(dir / "model.safetensors");
    const auto got = layout_shapes(load_model_config(dir));
    EXPECT_EQ(got, expected) << model;
  }
}

TEST(CheckpointLayout, GroupsAndIndices) {
  const ModelConfig c = load_model_config(fs::path(MLASERVE_TEST_DATA_DIR) / "tiny-v2");
  const auto layout = checkpoint_layout(c);
  EXPECT_EQ(layout.front().name, "model.embed_tokens.weight");
  EXPECT_EQ(layout.back().name, "lm_head.weight");
  for (const ExpectedTensor& t : layout) {
    const bool is_expert = t.name.find(".mlp.experts.") != std::string::npos;
    EXPECT_EQ(is_expert, t.group == TensorGroup::kRoutedExperts) << t.name;
    EXPECT_EQ(is_expert, t.expert >= 0) << t.name;
    if (t.name.find("layernorm") != std::string::npos || t.name == "model.norm.weight") {
      EXPECT_EQ(t.group, TensorGroup::kNorm) << t.name;
    }
    if (t.name.rfind("model.layers.", 0) == 0) {
      EXPECT_EQ(t.name, "model.layers." + std::to_string(t.layer) + t.name.substr(t.name.find('.', 13)));
    }
  }
}

TEST(CheckpointLayout, TiedEmbeddingsHaveNoLmHead) {
  ModelConfig c = load_model_config(fs::path(MLASERVE_TEST_DATA_DIR) / "tiny-lite");
  c.tie_word_embeddings = true;
  for (const ExpectedTensor& t : checkpoint_layout(c)) EXPECT_NE(t.name, "lm_head.weight");
}

// A zero-filled checkpoint with exactly the layout of `c`, then edited by `edit`.
Checkpoint crafted(const testing::TempDir& dir, const ModelConfig& c,
                   const std::function<void(std::vector<NamedTensor>&)>& edit) {
  std::vector<NamedTensor> tensors;
  for (const ExpectedTensor& t : checkpoint_layout(c))
    tensors.push_back({t.name, Tensor::zeros(t.shape, DType::kBF16)});
  edit(tensors);
  write_safetensors(dir / "model.safetensors", tensors);
  return Checkpoint::open(dir.path());
}

ModelConfig tiny_lite() { return load_model_config(fs::path(MLASERVE_TEST_DATA_DIR) / "tiny-lite"); }

TEST(ValidateCheckpoint, ReferenceCheckpointsAreValid) {
  for (const char* model : {"tiny-v2", "tiny-lite"}) {
    const fs::path dir = fs::path(MLASERVE_TEST_DATA_DIR) / model;
    const CheckpointReport r = validate_checkpoint(Checkpoint::open(dir), load_model_config(dir));
    EXPECT_TRUE(r.ok()) << r.summary();
    EXPECT_EQ(r.summary(), "ok");
  }
}

TEST(ValidateCheckpoint, ReportsMissingTensor) {
  testing::TempDir dir;
  const auto ck = crafted(dir, tiny_lite(), [](auto& ts) {
    std::erase_if(ts, [](const NamedTensor& t) { return t.name == "model.layers.1.mlp.experts.3.up_proj.weight"; });
  });
  const CheckpointReport r = validate_checkpoint(ck, tiny_lite());
  ASSERT_EQ(r.missing.size(), 1u);
  EXPECT_NE(r.missing[0].find("model.layers.1.mlp.experts.3.up_proj.weight"), std::string::npos);
  EXPECT_TRUE(r.unexpected.empty() && r.bad_shape.empty() && r.bad_dtype.empty());
  try {
    ensure_checkpoint_matches(ck, tiny_lite());
    ADD_FAILURE() << "missing tensor accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find(dir.path().string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("experts.3.up_proj"), std::string::npos) << e.what();
  }
}

TEST(ValidateCheckpoint, ReportsUnexpectedTensorWithItsFile) {
  testing::TempDir dir;
  const auto ck = crafted(dir, tiny_lite(), [](auto& ts) {
    ts.push_back({"model.layers.2.input_layernorm.weight", Tensor::zeros({64}, DType::kBF16)});
  });
  const CheckpointReport r = validate_checkpoint(ck, tiny_lite());
  ASSERT_EQ(r.unexpected.size(), 1u);
  EXPECT_NE(r.unexpected[0].find("model.layers.2.input_layernorm.weight (in model.safetensors)"),
            std::string::npos) << r.unexpected[0];
  EXPECT_FALSE(r.ok());
}

TEST(ValidateCheckpoint, ReportsShapeAndDtypeMismatches) {
  testing::TempDir dir;
  const auto ck = crafted(dir, tiny_lite(), [](auto& ts) {
    for (NamedTensor& t : ts) {
      if (t.name == "model.layers.0.self_attn.kv_b_proj.weight") t.tensor = Tensor::zeros({128, 31}, DType::kBF16);
      if (t.name == "model.norm.weight") t.tensor = Tensor::zeros({64}, DType::kF32);
    }
  });
  const CheckpointReport r = validate_checkpoint(ck, tiny_lite());
  ASSERT_EQ(r.bad_shape.size(), 1u);
  EXPECT_NE(r.bad_shape[0].find("kv_b_proj.weight (in model.safetensors) has shape [128, 31], expected [128, 32]"),
            std::string::npos) << r.bad_shape[0];
  ASSERT_EQ(r.bad_dtype.size(), 1u);
  EXPECT_NE(r.bad_dtype[0].find("model.norm.weight"), std::string::npos);
  EXPECT_NE(r.bad_dtype[0].find("f32"), std::string::npos) << r.bad_dtype[0];
  EXPECT_TRUE(r.missing.empty());
}

TEST(ValidateCheckpoint, SummaryIsCapped) {
  testing::TempDir dir;
  const auto ck = crafted(dir, tiny_lite(), [](auto& ts) { ts.resize(1); });
  const CheckpointReport r = validate_checkpoint(ck, tiny_lite());
  const size_t expected_missing = checkpoint_layout(tiny_lite()).size() - 1;
  EXPECT_EQ(r.missing.size(), expected_missing);
  const std::string s = r.summary(5);
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 6);
  EXPECT_NE(s.find(std::to_string(expected_missing - 5) + " more"), std::string::npos) << s;
}

}  // namespace
}  // namespace mlaserve
