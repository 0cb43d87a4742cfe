#include "runtime/model/checkpoint_layout.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

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
    if (t.name.find("layernorm") != std::string::npos || t.name == "model.norm.weight")
      EXPECT_EQ(t.group, TensorGroup::kNorm) << t.name;
    if (t.name.rfind("model.layers.", 0) == 0)
      EXPECT_EQ(t.name, "model.layers." + std::to_string(t.layer) + t.name.substr(t.name.find('.', 13)));
  }
}

TEST(CheckpointLayout, TiedEmbeddingsHaveNoLmHead) {
  ModelConfig c = load_model_config(fs::path(MLASERVE_TEST_DATA_DIR) / "tiny-lite");
  c.tie_word_embeddings = true;
  for (const ExpectedTensor& t : checkpoint_layout(c)) EXPECT_NE(t.name, "lm_head.weight");
}

}  // namespace
}  // namespace mlaserve
