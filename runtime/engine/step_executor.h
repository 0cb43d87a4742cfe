#pragma once
// How the Engine runs a forward pass. Single-process generation calls the model directly
// (LocalStepExecutor); a TP leader first tells its followers what to run (LeaderStepExecutor in
// replicated_steps.h), because the model's forward is a collective every rank must enter with
// identical inputs.
#include "runtime/model/deepseek_v2.h"
#include "runtime/model/kv_cache.h"

namespace mlaserve {

class StepExecutor {
 public:
  virtual ~StepExecutor() = default;
  // The cache the Engine allocated: followers build one of the same geometry.
  virtual void setup_cache(const KvCache& cache) = 0;
  // Logits [rows, vocab] f32 of `batch` (see DeepseekV2Model::forward).
  virtual Tensor forward(const ForwardBatch& batch, KvCache& cache) = 0;
};

class LocalStepExecutor final : public StepExecutor {
 public:
  explicit LocalStepExecutor(const DeepseekV2Model& model) : model_(model) {}
  void setup_cache(const KvCache&) override {}
  Tensor forward(const ForwardBatch& batch, KvCache& cache) override {
    return model_.forward(batch, cache);
  }

 private:
  const DeepseekV2Model& model_;
};

}  // namespace mlaserve
