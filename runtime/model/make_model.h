#pragma once
// Random-weight checkpoints in the HuggingFace DeepSeek-V2 layout, for tests, demos and
// benchmarks of model sizes we cannot download. bf16, deterministic per seed.
#include <cstdint>
#include <filesystem>
#include <optional>

#include "runtime/model/checkpoint_layout.h"
#include "runtime/model/config.h"

namespace mlaserve {

// Mean and standard deviation a tensor is drawn with. Chosen so the random model computes
// something non-degenerate: unit-variance embeddings, linear maps that keep the variance
// (std 1/√fan_in), norms near 1, and a router sharper than a plain linear map so each token's
// top-k is decisive while every expert stays equally likely overall.
struct InitSpec {
  float mean = 0;
  float std = 0;
};
InitSpec init_spec(const ExpectedTensor& tensor);

struct MakeModelResult {
  int num_files = 0;
  uint64_t total_bytes = 0;  // tensor data over all files
};

// Writes config.json and model.safetensors into `out`, or, with `shard_bytes`, shards of at most
// that size (a larger tensor gets a shard of its own) plus model.safetensors.index.json. Tensors
// are generated and written in chunks, so memory stays small whatever the model size. `out` must
// not exist or be empty; config.json is written last, so its presence marks a complete model.
MakeModelResult make_random_model(const ModelConfig& config, uint64_t seed,
                                  const std::filesystem::path& out,
                                  std::optional<uint64_t> shard_bytes = std::nullopt);

}  // namespace mlaserve
