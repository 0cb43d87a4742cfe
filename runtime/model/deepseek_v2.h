#pragma once
// The DeepSeek-V2 causal LM on CPU: embedding, decoder layers (MLA + dense MLP or DeepSeekMoE),
// final norm, lm_head, over a ragged batch whose sequences continue from their cached context.
// Optionally one rank of a tensor (+ expert) parallel layout: it then holds and computes only its
// share (DESIGN.md "Sharding", docs/parallel.md "Sharded model").
#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "runtime/core/tensor.h"
#include "runtime/model/config.h"
#include "runtime/model/kv_cache.h"
#include "runtime/model/model_parallel.h"
#include "runtime/model/safetensors.h"
#include "runtime/model/weights.h"
#include "runtime/ops/moe_route.h"
#include "runtime/ops/rope.h"

namespace mlaserve {

struct SequenceInput {
  std::vector<int64_t> tokens;  // new token ids (at least one)
  int64_t start_pos = 0;        // positions [0, start_pos) are already in the cache
  const std::vector<int32_t>* block_table = nullptr;  // covers start_pos + tokens.size()
};

struct ForwardBatch {
  std::vector<SequenceInput> sequences;
  // false: one logits row per sequence (its last new token); true: one per new token.
  bool all_logits = false;
};

// Intermediate values for tests and debugging (DESIGN's "find the first layer that departs").
struct ForwardTrace {
  std::vector<Tensor> residual;            // embedding, then after each layer: [T, hidden] f32
  Tensor final_norm;                       // [rows, hidden] f32, the rows logits were asked for
  std::vector<ops::MoeRouting> routing;    // per layer; ids undefined for dense layers
};

class DeepseekV2Model {
 public:
  // config.json + safetensors in `dir`. activation_dtype: kF32 or kBF16. `parallel`: this
  // rank's place in the layout; it is validated against the config before any weight is read
  // (kInvalidArgument naming the flag and the numbers), then only this rank's slices are read.
  // `device`: where the weights live and the forward pass runs; a GPU gets this rank's slices
  // uploaded once (ops::init_device must have succeeded for it).
  static std::unique_ptr<DeepseekV2Model> load(const std::filesystem::path& dir,
                                               DType activation_dtype = DType::kF32,
                                               const ModelParallel& parallel = {},
                                               Device device = Device::cpu());
  DeepseekV2Model(ModelConfig config, Checkpoint checkpoint, DType activation_dtype,
                  const ModelParallel& parallel = {}, Device device = Device::cpu());

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  DType activation_dtype() const { return act_; }
  Device device() const { return device_; }
  const ModelParallel& parallel() const { return parallel_; }
  // Bytes of tensor data this rank viewed or copied from the checkpoint.
  uint64_t checkpoint_bytes_read() const { return checkpoint_.bytes_read(); }

  // Writes the new tokens' latents into `cache` and returns logits [rows, vocab] f32, rows in
  // batch order. Bad input (token id outside the vocabulary, empty sequence, position beyond
  // max_position_embeddings, short block table) throws kInvalidArgument naming the sequence.
  // With tp > 1 this is a collective: every rank of the TP group calls it with the same inputs
  // (and a cache holding the same latents) and every rank gets the full logits.
  Tensor forward(const ForwardBatch& batch, KvCache& cache, ForwardTrace* trace = nullptr) const;

 private:
  Tensor embed(const Tensor& ids) const;  // [T] → the residual stream [T, hidden] f32

  ModelConfig config_;
  ModelParallel parallel_;
  parallel::Communicator* tp_group_;  // parallel_.tp_group when tp > 1, else null
  Checkpoint checkpoint_;  // keeps the mapped weights alive
  ModelWeights weights_;
  ops::RopeTable rope_;
  float softmax_scale_;
  DType act_;
  Device device_;
};

}  // namespace mlaserve
