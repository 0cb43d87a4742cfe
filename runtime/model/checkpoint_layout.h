#pragma once
// The tensors a HuggingFace DeepSeek-V2 checkpoint holds for a given config (names and shapes),
// and the check that a checkpoint on disk matches them. Loaders call ensure_checkpoint_matches
// before reading anything, so a checkpoint for another config fails with one clear message.
#include <string>
#include <string_view>
#include <vector>

#include "runtime/core/tensor.h"
#include "runtime/model/config.h"

namespace mlaserve {

class Checkpoint;

// What a tensor is for; inspect and model_stats group sizes by it.
enum class TensorGroup {
  kEmbedding,      // model.embed_tokens
  kAttention,      // self_attn.* projections (their layernorms count as kNorm)
  kDenseMlp,       // mlp.* of layers < first_k_dense_replace
  kGate,           // mlp.gate (the router)
  kRoutedExperts,  // mlp.experts.E.*
  kSharedExperts,  // mlp.shared_experts.*
  kNorm,           // every RMSNorm weight
  kLmHead,
};
inline constexpr int kNumTensorGroups = 8;
std::string_view tensor_group_name(TensorGroup group);  // "attention", "routed_experts", ...

struct ExpectedTensor {
  std::string name;   // HF name, e.g. "model.layers.3.mlp.experts.17.up_proj.weight"
  Shape shape;
  TensorGroup group;
  int64_t layer = -1;   // -1 outside the decoder layers
  int64_t expert = -1;  // routed expert index, else -1
};

// In the order a loader wants them: embeddings, layer by layer, final norm, lm_head.
std::vector<ExpectedTensor> checkpoint_layout(const ModelConfig& config);

struct CheckpointReport {
  std::vector<std::string> missing;     // each line names the tensor
  std::vector<std::string> unexpected;  // tensor and file
  std::vector<std::string> bad_shape;   // tensor, file, expected and found shapes
  std::vector<std::string> bad_dtype;   // tensor, file, expected and found dtypes

  bool ok() const { return missing.empty() && unexpected.empty() && bad_shape.empty() && bad_dtype.empty(); }
  // One line per problem (at most `max_lines`, then a count of the rest); "ok" when none.
  std::string summary(size_t max_lines = 20) const;
};

// Compares names and shapes with checkpoint_layout(config). Every tensor must have one floating
// dtype, that of model.embed_tokens.weight (a checkpoint is written in one dtype).
CheckpointReport validate_checkpoint(const Checkpoint& checkpoint, const ModelConfig& config);
// Throws Error(kInvalidArgument) naming the checkpoint and its problems when the report is not ok.
void ensure_checkpoint_matches(const Checkpoint& checkpoint, const ModelConfig& config);

}  // namespace mlaserve
